"""Where the next label goes: a new item, or a second opinion on a labelled one (pure).

Both kinds are scored on one scale by cleanlab's ActiveLab
(``cleanlab.multiannotator.get_active_learning_scores``): a labelled item scores the
quality of its consensus (its votes, each annotator's weight and the champion's
out-of-sample probabilities), an unlabelled one the champion's confidence, each pulled
towards chance by the weight of one more annotator. Lower = a label there is worth more.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from cleanlab.multiannotator import get_active_learning_scores

Votes = Mapping[str, Mapping[str, str]]  # item id -> annotator id -> label


def activelab_scores(
    votes: Votes,
    classes: Sequence[str],
    labelled_probabilities: pd.DataFrame,
    unlabelled_probabilities: pd.DataFrame,
) -> tuple[pd.Series, pd.Series]:
    """ActiveLab scores of labelled and unlabelled items, on one scale.

    Args:
        votes: item id -> annotator id -> label, of the labelled items.
        classes: the label set (probability columns outside it are dropped, a class the
            champion lacks has probability 0).
        labelled_probabilities: the champion's out-of-sample probabilities, index = item
            id; labelled items without a row are not scored.
        unlabelled_probabilities: the champion's probabilities of the unlabelled pool,
            index = item id.

    Returns:
        (scores of the labelled items, scores of the unlabelled ones), each indexed by
        item id, in [0, 1], lower = more worth a label.

    Raises:
        ValueError: a vote outside ``classes`` (names the item).
    """
    index = {label: i for i, label in enumerate(classes)}
    items = [str(i) for i in labelled_probabilities.index if str(i) in votes and votes[str(i)]]
    annotators = sorted({a for item in items for a in votes[item]})
    matrix = np.full((len(items), len(annotators)), np.nan)
    column = {a: j for j, a in enumerate(annotators)}
    for n, item in enumerate(items):
        for annotator, label in votes[item].items():
            if label not in index:
                raise ValueError(f"item {item!r}: vote {label!r} is not one of {list(classes)}")
            matrix[n, column[annotator]] = index[label]

    def rows(frame: pd.DataFrame, ids: Sequence[str]) -> np.ndarray:
        proba = (
            frame.set_axis([str(i) for i in frame.index])
            .loc[list(ids)]
            .reindex(columns=list(classes), fill_value=0.0)
            .to_numpy(dtype=float)
        )
        total = proba.sum(axis=1, keepdims=True)
        return np.divide(proba, total, out=np.full_like(proba, 1 / len(classes)), where=total > 0)

    unlabelled = [str(i) for i in unlabelled_probabilities.index]
    if not items and not unlabelled:
        return pd.Series(dtype=float), pd.Series(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "annotators do not agree on any example" and the like
        labelled_scores, unlabelled_scores = get_active_learning_scores(
            matrix if items else None,
            rows(labelled_probabilities, items) if items else None,
            rows(unlabelled_probabilities, unlabelled) if unlabelled else None,
        )
    return (
        pd.Series(np.asarray(labelled_scores, dtype=float), index=items, dtype=float),
        pd.Series(np.asarray(unlabelled_scores, dtype=float), index=unlabelled, dtype=float),
    )


def second_opinions(
    labelled: pd.Series, unlabelled: pd.Series, batch: int, share: float
) -> list[str]:
    """The labelled items to ask one more annotator about in a batch of ``batch`` labels.

    Labelled and unlabelled items are ranked together, lowest score first; the labelled
    items among the first ``batch`` get a second opinion, at most ``share`` of the batch.
    The rest of the batch is new items, chosen by the push's own strategy.

    Args:
        labelled: ActiveLab scores of labelled items (index = item id).
        unlabelled: ActiveLab scores of the unlabelled pool.
        batch: labels the push asks for.
        share: the largest share of them that may be second opinions (0: none).

    Returns:
        Item ids, most worth a second opinion first.

    Raises:
        ValueError: ``share`` outside [0, 1] or ``batch`` below 0.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"share must be in [0, 1], got {share}")
    if batch < 0:
        raise ValueError(f"batch must be >= 0, got {batch}")
    cap = math.floor(share * batch)
    if cap == 0 or labelled.empty:
        return []
    joint = pd.DataFrame(
        {
            "score": pd.concat([labelled, unlabelled]).to_numpy(dtype=float),
            "labelled": [True] * len(labelled) + [False] * len(unlabelled),
            "item": [str(i) for i in labelled.index] + [str(i) for i in unlabelled.index],
        }
    )
    # a tie goes to a new item: a second opinion must be worth more, not as much
    top = joint.sort_values(["score", "labelled", "item"], kind="stable").head(batch)
    return top.loc[top["labelled"], "item"].tolist()[:cap]
