"""Shared helpers for the collect/cleanse flow tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.datasets import load_digits, load_iris

from blocks import DataStore

FIXTURES = Path(__file__).parents[1] / "fixtures"
IRIS_SCHEMA = "cleansing.schemas:IrisMeasurements"
DIGITS_SCHEMA = "cleansing.schemas:DigitImages"


def iris_frame(messy: bool = True, seed: int = 0) -> pd.DataFrame:
    """scikit-learn's iris as text, with some rows made messy."""
    data = load_iris(as_frame=True)
    frame = data.data.copy()
    frame.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    frame = frame.astype(str)
    frame["species"] = [data.target_names[t] for t in data.target]
    if messy:
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(frame), 12, replace=False)
        frame.loc[rows[:3], "sepal_length"] = ["NA", "-1", "abc"]
        frame.loc[rows[3:6], "species"] = ["  SETOSA", "Virginica ", "rose"]
        frame.loc[rows[6:9], "petal_width"] = [" 0.2 ", "n/a", "99"]
    return frame


def digit_png(index: int) -> bytes:
    image = load_digits().images[index]
    buffer = io.BytesIO()
    Image.fromarray((image * 255 / 16).astype("uint8")).save(buffer, format="PNG")
    return buffer.getvalue()


def snapshot(store: DataStore) -> dict[str, bytes]:
    """Every object in a local store (to prove a rerun wrote nothing)."""
    return {key: store.read_bytes(key) for key in store.list_keys()}


def read_all(store: DataStore, prefix: str) -> pd.DataFrame:
    keys = [k for k in store.list_keys(prefix) if k.endswith(".parquet")]
    if not keys:
        return pd.DataFrame()
    return pd.concat([store.read_parquet(k) for k in keys], ignore_index=True)
