"""The images of clean rows as the pipeline takes them, read from a local DataStore."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from blocks import DataStore
from learning.training import TrainingError
from specs import DIGITS
from tasks.data import feature_rows


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_pixels_in_row_order_and_a_missing_image_named(tmp_path: Path) -> None:
    store = DataStore(base_path=str(tmp_path))
    images = [np.full((8, 8), 10 * n, dtype=np.uint8) for n in range(3)]
    keys = [f"raw/digits/files/{n}.png" for n in range(3)]
    for key, image in zip(keys, images, strict=True):
        store.write_bytes(key, _png(image))
    rows = pd.DataFrame({"item_id": ["c", "a", "b"], DIGITS.value_column: keys[::-1]})
    pixels = feature_rows(store, DIGITS, rows)
    assert pixels.shape == (3, 64)
    assert [int(p[0]) for p in pixels] == [20, 10, 0]
    rows.loc[1, DIGITS.value_column] = "raw/digits/files/gone.png"
    with pytest.raises(TrainingError, match=r"item a \(image raw/digits/files/gone.png\)"):
        feature_rows(store, DIGITS, rows)
