"""Clean rows -> what a data set's pipeline takes as input (pure, given a byte reader)."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from specs import DatasetSpec


class InputError(ValueError):
    """A clean row cannot become a model input; names the item."""


def image_pixels(data: bytes, size: tuple[int, int], where: str) -> NDArray[np.float64]:
    """An image's grayscale pixels, resized to ``size`` (width, height), as 0..255 floats.

    Raises:
        InputError: the bytes are not an image (names ``where``).
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            gray = image.convert("L").resize(size, Image.Resampling.BOX)
            return np.asarray(gray, dtype=np.float64).reshape(-1)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise InputError(f"{where}: not a readable image ({error})") from None


def model_inputs(
    spec: DatasetSpec, rows: pd.DataFrame, read_bytes: Callable[[str], bytes]
) -> pd.DataFrame | NDArray[np.float64]:
    """The pipeline input for clean rows: pixels for images, the rows themselves otherwise.

    Args:
        spec: the data set.
        rows: clean rows (with ``item_id`` and ``spec.value_column``).
        read_bytes: reads a store key (``DataStore.read_bytes``) for image data sets.

    Returns:
        An (n, width*height) array for images; the frame for text and tabular.
    """
    if spec.features.modality != "image":
        return rows
    if rows.empty:
        width, height = spec.image_size
        return np.empty((0, width * height))
    return np.vstack(
        [
            image_pixels(read_bytes(key), spec.image_size, f"item {item_id} ({key})")
            for item_id, key in zip(rows["item_id"], rows[spec.value_column], strict=True)
        ]
    )
