"""Where monitoring keeps its records in the DataStore (keys only; no I/O here).

Beside the model registry layout of DESIGN.md (``models/<name>/<version>/``).
"""

from __future__ import annotations


def profile_key(model: str, version: str) -> str:
    """The reference profile saved with a model version (JSON of `ReferenceProfile`)."""
    return f"models/{model}/{version}/reference_profile.json"


def live_accuracy_key(model: str) -> str:
    """The live accuracy series of a model (JSON of `LiveAccuracySeries`)."""
    return f"models/{model}/monitoring/live_accuracy.json"


def drift_report_key(dataset: str, batch_id: str) -> str:
    """The drift report of one cleansed batch (JSON of `DriftReport`)."""
    return f"monitoring/drift/{dataset}/{batch_id}.json"
