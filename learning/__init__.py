"""Pure machine-learning logic of the loop: selection, pipelines, evaluation, gate, registry.

Imports no prefect; the tasks and flows wire these functions to the DataStore and
Label Studio.
"""
