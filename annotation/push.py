"""Pure decisions of a push: what may be selected, and predictions from a probability matrix."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from annotation.ledger import PushLedger
from annotation.predictions import ItemPrediction


def already_handled(ledger: PushLedger, labelled: Iterable[str]) -> set[str]:
    """Items a selection must never return: pushed (or maybe pushed) or labelled."""
    return set(ledger.entries) | set(labelled)


def item_predictions(
    item_ids: Sequence[str], classes: Sequence[str], proba: NDArray[np.floating]
) -> list[ItemPrediction]:
    """One `ItemPrediction` per row of a (items x classes) probability matrix.

    Raises:
        ValueError: the matrix does not match the items or the classes.
    """
    matrix = np.asarray(proba, dtype=np.float64)
    if matrix.shape != (len(item_ids), len(classes)):
        raise ValueError(
            f"probabilities have shape {matrix.shape}, expected ({len(item_ids)}, {len(classes)})"
        )
    labels = [str(c) for c in classes]
    return [
        ItemPrediction(item_id=item_id, probabilities=dict(zip(labels, map(float, row), strict=True)))
        for item_id, row in zip(item_ids, matrix, strict=True)
    ]
