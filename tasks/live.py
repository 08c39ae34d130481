"""The live accuracy series beside the model registry, and the disputed labels beside the
labels versions (DataStore reads and writes of the monitor flow).

Keys from `storage.layout` (`live_accuracy_key`, `disputed_labels_key`). The disputed
rows of a labels version are flagged (``disputed``, ``disputed_by``, ``dispute_probability``).
"""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from blocks import DataStore
from monitoring.decisions import LiveAccuracySeries
from storage.layout import disputed_labels_key, live_accuracy_key

STORE_RETRIES = {"retries": 2, "retry_delay_seconds": [1, 5]}


@task(name="read-live-accuracy", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_live_series(store: DataStore, model: str) -> LiveAccuracySeries:
    """The model's live accuracy series (empty before its first point).

    Args:
        store: the DataStore.
        model: the model name.

    Returns:
        The series, oldest point first.
    """
    key = live_accuracy_key(model)
    if not store.exists(key):
        return LiveAccuracySeries(model=model)
    return LiveAccuracySeries.model_validate(store.read_json(key))


@task(name="save-live-accuracy", cache_policy=NO_CACHE, **STORE_RETRIES)
def save_live_series(store: DataStore, series: LiveAccuracySeries) -> str:
    """Replace the series atomically.

    Args:
        store: the DataStore.
        series: the whole series.

    Returns:
        Its store key.
    """
    key = live_accuracy_key(series.model)
    store.replace_json(key, series.model_dump(mode="json"))
    return key


@task(name="write-disputed-labels", cache_policy=NO_CACHE, **STORE_RETRIES)
def write_disputed_labels(
    store: DataStore, project: str, labels_version: str, flagged: pd.DataFrame
) -> str:
    """Write the disputed rows of a labels version (an empty file: checked, none disputed).

    Args:
        store: the DataStore.
        project: the project (data set) name.
        labels_version: the labels version.
        flagged: ``monitoring.decisions.flag_disputed`` output.

    Returns:
        The store key.
    """
    key = disputed_labels_key(project, labels_version)
    rows = flagged[flagged["disputed"]].reset_index(drop=True)
    store.write_parquet(key, rows)
    get_run_logger().info("Labels %s: %d disputed rows -> %s", labels_version, len(rows), key)
    return key
