"""Labels the training run's own out-of-fold probabilities doubt, ranked.

Pure: each evaluated item's label, scored by cleanlab's label quality
(``cleanlab.rank.get_label_quality_scores``, self-confidence) on probabilities from a fit
that never saw the item. Covers every evaluated label, trained-on ones included, not
only the items the champion never saw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from cleanlab.rank import get_label_quality_scores
from pydantic import BaseModel, ConfigDict


class LabelIssue(BaseModel):
    """One label the out-of-fold model disagrees with.

    Attributes:
        item_id: the item.
        label: its label in the labels version.
        predicted: the out-of-fold model's top class.
        predicted_probability: the probability it gives that class.
        quality: cleanlab's label quality (0-1; lower = more likely wrong).
    """

    model_config = ConfigDict(frozen=True)

    item_id: str
    label: str
    predicted: str
    predicted_probability: float
    quality: float


def rank_label_issues(
    item_ids: Sequence[str],
    labels: Sequence[str],
    probabilities: pd.DataFrame,
    top: int | None = 20,
) -> list[LabelIssue]:
    """The evaluated labels most likely wrong, worst first.

    Args:
        item_ids: item id of each training row (position -> item id).
        labels: label of each training row.
        probabilities: out-of-fold probabilities, index = position, one column per class.
        top: the most issues returned (None: all).

    Returns:
        Up to ``top`` evaluated items whose label is not the model's top class, lowest
        label quality first.

    Raises:
        ValueError: a position's label is not a column of ``probabilities`` (names it).
    """
    if probabilities.empty or (top is not None and top <= 0):
        return []
    classes = [str(c) for c in probabilities.columns]
    positions = [int(p) for p in probabilities.index]
    given = [str(labels[p]) for p in positions]
    unknown = sorted(set(given) - set(classes))
    if unknown:
        raise ValueError(f"labels {unknown} have no out-of-fold probability column")
    proba = probabilities.to_numpy(dtype=float)
    index = {c: i for i, c in enumerate(classes)}
    scores = get_label_quality_scores(np.array([index[g] for g in given]), proba)
    predicted = [classes[i] for i in proba.argmax(axis=1)]
    order = np.argsort(scores, kind="stable")
    issues = [
        LabelIssue(
            item_id=str(item_ids[positions[n]]),
            label=given[n],
            predicted=predicted[n],
            predicted_probability=float(proba[n].max()),
            quality=float(scores[n]),
        )
        for n in order
        if predicted[n] != given[n]
    ]
    return issues[:top]
