"""What drift monitoring looks at: the model's inputs, read the same way at training time
and for every cleansed batch.

A model sees its data set through its `FeatureSpec`: the numeric and categorical columns of
a table, one text column, or the pixels of an image resized to the spec's size. Those are
the columns profiled (so drift is measured on what the model uses, and identifiers such as
an image's key or checksum never count as drift). The other data columns of the clean rows
are kept in the frame unprofiled, so the profile knows them and a batch with a column the
training rows never had is reported; provenance columns (``_source``, ...) are dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from learning.pipelines import FeatureSpec
from monitoring.profile import ColumnKind

PIXEL_PREFIX = "pixel_"


class MonitoredFrame(BaseModel):
    """The frame a profile is built from (or a batch compared on) and how its model inputs
    are read."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    frame: pd.DataFrame
    kinds: dict[str, ColumnKind]


def pixel_columns(n_pixels: int) -> list[str]:
    """Names of an image's pixel features: ``pixel_0`` ... ``pixel_<n-1>`` (row-major)."""
    return [f"{PIXEL_PREFIX}{i}" for i in range(n_pixels)]


def monitored_frame(
    features: FeatureSpec, rows: pd.DataFrame, pixels: NDArray[Any] | None = None
) -> MonitoredFrame:
    """The model's inputs (profiled) beside the other data columns of clean rows.

    Args:
        features: The feature spec the model was trained with (its card's ``features``).
        rows: Clean rows (training rows or a cleansed batch).
        pixels: Image modality only: the model's input, shape (rows, pixels), as
            `tasks.data.feature_rows` makes it.

    Returns:
        The frame (provenance columns starting with ``_`` dropped; for images the pixels
        appended as ``pixel_<i>`` columns) and the kinds of the model's input columns.
        A model column the rows lack is left out of the kinds (the comparison reports it).

    Raises:
        ValueError: pixels missing for an image spec, or not one row of pixels per row.
    """
    data = rows[[c for c in rows.columns if not str(c).startswith("_")]]
    if features.modality == "image":
        if pixels is None:
            raise ValueError("the image modality needs the pixels the model takes")
        values = np.asarray(pixels)
        if values.ndim != 2 or values.shape[0] != len(rows):
            raise ValueError(f"pixels of shape {values.shape} do not match {len(rows)} rows")
        names = pixel_columns(values.shape[1])
        block = pd.DataFrame(values.astype(np.float64), columns=names, index=data.index)
        return MonitoredFrame(
            frame=pd.concat([data, block], axis=1), kinds=dict.fromkeys(names, "numeric")
        )
    wanted: dict[str, ColumnKind]
    if features.modality == "text":
        wanted = {str(features.text_column): "text"}
    else:
        wanted = {
            **dict.fromkeys(features.numeric_columns, "numeric"),
            **dict.fromkeys(features.categorical_columns, "categorical"),
        }
    kinds = {column: kind for column, kind in wanted.items() if column in data.columns}
    return MonitoredFrame(frame=data, kinds=kinds)
