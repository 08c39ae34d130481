"""annotation"""
