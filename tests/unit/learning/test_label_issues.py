"""The labels the out-of-fold model doubts most come first; agreed labels never appear."""

from __future__ import annotations

import pandas as pd
import pytest

from learning.label_issues import rank_label_issues


def _probabilities(rows: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["cat", "dog"])


def test_the_most_doubted_labels_come_first_and_agreed_ones_never() -> None:
    items = ["a", "b", "c", "d"]
    labels = ["cat", "cat", "dog", "dog"]
    proba = _probabilities([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    issues = rank_label_issues(items, labels, proba)
    assert [(i.item_id, i.label, i.predicted) for i in issues] == [
        ("b", "cat", "dog"),
        ("c", "dog", "cat"),
    ]
    assert issues[0].quality == pytest.approx(0.2)
    assert issues[0].predicted_probability == pytest.approx(0.8)
    assert rank_label_issues(items, labels, proba, top=1)[0].item_id == "b"


def test_only_evaluated_positions_are_judged() -> None:
    proba = _probabilities([[0.1, 0.9]]).set_axis([2])
    issues = rank_label_issues(["a", "b", "c"], ["dog", "dog", "cat"], proba)
    assert [i.item_id for i in issues] == ["c"]


def test_a_label_without_a_probability_column_is_named() -> None:
    with pytest.raises(ValueError, match="owl"):
        rank_label_issues(["a"], ["owl"], _probabilities([[0.5, 0.5]]))


def test_top_none_ranks_every_doubted_label() -> None:
    proba = _probabilities([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]])
    issues = rank_label_issues(["a", "b", "c"], ["cat", "cat", "cat"], proba, top=None)
    assert [i.item_id for i in issues] == ["a", "b", "c"]
