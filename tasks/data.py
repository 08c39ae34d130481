"""Read a data set's clean rows from the DataStore."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks import DataStore


def clean_prefix(dataset: str) -> str:
    return f"clean/{dataset}/"


@task(name="load-clean-rows", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def load_clean(store: DataStore, dataset: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Every clean row of the data set, one row per `item_id`.

    Args:
        store: the DataStore.
        dataset: the data set name.
        columns: the columns to read (always with `item_id`); None reads all.

    Returns:
        The rows, in batch order (an empty frame when nothing is clean yet).
    """
    wanted = None if columns is None else list(dict.fromkeys(["item_id", *columns]))
    keys = [k for k in store.list_keys(clean_prefix(dataset)) if k.endswith(".parquet")]
    frames = [store.read_parquet(key, columns=wanted) for key in keys]
    if not frames:
        return pd.DataFrame(columns=wanted or ["item_id"])
    rows = pd.concat(frames, ignore_index=True)
    # Cleansing dedups across batches; a batch rewritten by a rerun must not double an item.
    return rows.drop_duplicates(subset="item_id", keep="first").reset_index(drop=True)
