"""The champion's predictions for clean items (used by the push and refresh flows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sklearn.pipeline import Pipeline

from annotation.predictions import ItemPrediction
from blocks import DataStore
from learning.training import ITEM_ID
from specs import DatasetSpec
from tasks.data import feature_rows


def probabilities(
    model: Pipeline, rows: pd.DataFrame | NDArray[Any]
) -> tuple[list[str], NDArray[np.float64]]:
    """Class probabilities of a fitted pipeline; one-hot predictions if it has no ``predict_proba``.

    Args:
        model: the fitted pipeline.
        rows: its input.

    Returns:
        (class labels, (items x classes) probabilities).
    """
    classes = [str(c) for c in model.classes_]
    if hasattr(model, "predict_proba"):
        return classes, np.asarray(model.predict_proba(rows), dtype=np.float64)
    predicted = [str(v) for v in model.predict(rows)]
    one_hot = np.zeros((len(predicted), len(classes)))
    for n, label in enumerate(predicted):
        one_hot[n, classes.index(label)] = 1.0
    return classes, one_hot


def to_item_predictions(
    item_ids: Sequence[str], classes: Sequence[str], probs: NDArray[np.float64]
) -> list[ItemPrediction]:
    """One :class:`ItemPrediction` per item (probabilities clipped to [0, 1]).

    Args:
        item_ids: the items, in row order.
        classes: the model's classes.
        probs: (items x classes) probabilities.

    Returns:
        The predictions.
    """
    clipped = np.clip(probs, 0.0, 1.0)
    return [
        ItemPrediction(
            item_id=item_id, probabilities=dict(zip(classes, map(float, row), strict=True))
        )
        for item_id, row in zip(item_ids, clipped, strict=True)
    ]


@task(name="predict-items", cache_policy=NO_CACHE)
def predict_items(
    model: Pipeline, spec: DatasetSpec, clean_rows: pd.DataFrame, store: DataStore
) -> list[ItemPrediction]:
    """The model's class probabilities for clean rows (images read from the store).

    Args:
        model: a fitted pipeline (the champion).
        spec: the data set spec.
        clean_rows: clean rows with ``item_id`` and the spec's columns.
        store: the DataStore holding images.

    Returns:
        One prediction per row, in row order (empty for no rows).
    """
    if clean_rows.empty:
        return []
    rows = feature_rows(store, spec, clean_rows)
    classes, probs = probabilities(model, rows)
    predictions = to_item_predictions(clean_rows[ITEM_ID].astype(str).tolist(), classes, probs)
    get_run_logger().info("Predicted %d items with %d classes", len(predictions), len(classes))
    return predictions


@task(name="predict-probabilities", cache_policy=NO_CACHE)
def predict_probabilities(
    model: Pipeline, rows: pd.DataFrame | NDArray[Any]
) -> tuple[list[str], NDArray[np.float64]]:
    """Task wrapper of :func:`probabilities` (the champion judging labelled items).

    Args:
        model: the fitted pipeline.
        rows: its input (``tasks.data.feature_rows``).

    Returns:
        (class labels, (items x classes) probabilities).
    """
    return probabilities(model, rows)
