"""Read a data set's clean rows, and turn them into what its pipeline takes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks import DataStore
from blocks.data_store import MissingKeyError
from learning.training import ITEM_ID, TrainingError, decode_image
from specs import DatasetSpec
from storage.layout import clean_prefix

Rows = pd.DataFrame | NDArray[Any]


@task(name="load-clean-rows", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def load_clean_rows(store: DataStore, dataset: str) -> tuple[pd.DataFrame, list[str]]:
    """Every clean row of the data set, one row per `item_id`.

    Args:
        store: the DataStore.
        dataset: the data set name.

    Returns:
        (the rows in batch order, the clean batch keys read); an empty frame when
        nothing is clean yet.

    Raises:
        TrainingError: a clean batch has no `item_id` column (names the key).
    """
    keys = [k for k in store.list_keys(clean_prefix(dataset)) if k.endswith(".parquet")]
    frames = [store.read_parquet(key) for key in keys]
    for key, frame in zip(keys, frames, strict=True):
        if ITEM_ID not in frame.columns:
            raise TrainingError(f"{key} has no {ITEM_ID} column")
    if not frames:
        return pd.DataFrame(columns=[ITEM_ID]), keys
    rows = pd.concat(frames, ignore_index=True)
    # Cleansing dedups across batches; a batch rewritten by a rerun must not double an item.
    return rows.drop_duplicates(subset=ITEM_ID, keep="first").reset_index(drop=True), keys


def feature_rows(store: DataStore, spec: DatasetSpec, rows: pd.DataFrame) -> Rows:
    """What the pipeline of ``spec`` takes: pixels for images, the frame otherwise.

    Images are read from the store by ``spec.value_column`` (a store key), converted
    to grayscale and resized to ``spec.image_size``.

    Args:
        store: the DataStore holding the images.
        spec: the data set spec.
        rows: clean rows (with ``item_id``).

    Returns:
        An (items x pixels) uint8 array for images, else ``rows``.

    Raises:
        TrainingError: an image is missing or unreadable (names the item and key).
    """
    if spec.features.modality != "image":
        return rows
    column = spec.value_column
    if column not in rows.columns:
        raise TrainingError(f"clean rows of {spec.name!r} have no image key column {column!r}")
    width, height = spec.image_size
    pixels = np.zeros((len(rows), width * height), dtype=np.uint8)
    # Lists, not the columns: iterating an Arrow-backed column costs 1-2 us a value.
    keys = [str(key) for key in rows[column].tolist()]
    files = store.read_many(keys)  # concurrent reads on S3
    for n, (item_id, key) in enumerate(zip(rows[ITEM_ID].tolist(), keys, strict=True)):
        where = f"item {item_id} (image {key})"
        try:
            data = next(files)
        except MissingKeyError:
            raise TrainingError(f"{where}: the image is not in {store.describe()}") from None
        pixels[n] = decode_image(data, (width, height), where)
    return pixels
