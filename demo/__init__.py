"""The main job on local defaults, and the bots that play its annotators."""
