"""A training run's label issues chosen for review: the worst first, at most k, under a quality."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from learning.label_issues import LabelIssue, rank_label_issues
from monitoring.review import (
    ReviewLedger,
    hold_for_review,
    label_issues_to_review,
    plan_reviews,
)

NOW = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)


def _issue(item_id: str, quality: float, label: str = "cat", predicted: str = "dog") -> LabelIssue:
    return LabelIssue(
        item_id=item_id,
        label=label,
        predicted=predicted,
        predicted_probability=1 - quality,
        quality=quality,
    )


ISSUES = [_issue("a", 0.01), _issue("b", 0.04), _issue("c", 0.2), _issue("d", 0.45)]


@pytest.mark.parametrize(
    ("top", "max_quality", "chosen"),
    [
        (10, 0.1, ["a", "b"]),  # the threshold stops it
        (1, 0.1, ["a"]),  # top k stops it
        (10, 1.0, ["a", "b", "c", "d"]),
        (0, 1.0, []),
        (10, 0.0, []),
    ],
)
def test_the_worst_labels_are_chosen_up_to_k_and_under_the_quality(
    top: int, max_quality: float, chosen: list[str]
) -> None:
    assert [d.item_id for d in label_issues_to_review(ISSUES, top, max_quality)] == chosen


def test_a_chosen_issue_carries_the_out_of_fold_model_s_class_and_probabilities() -> None:
    proba = pd.DataFrame([[0.9, 0.1], [0.05, 0.95], [0.3, 0.7]], columns=["cat", "dog"])
    issues = rank_label_issues(["x", "y", "z"], ["cat", "cat", "dog"], proba, top=None)
    (dispute,) = label_issues_to_review(issues, 5, 0.1)
    assert (dispute.item_id, dispute.label, dispute.model_label) == ("y", "cat", "dog")
    assert dispute.model_probability == pytest.approx(0.95)
    assert dispute.label_probability == pytest.approx(0.05)


def test_issues_in_any_order_are_ranked_worst_first() -> None:
    shuffled = [ISSUES[2], ISSUES[1], ISSUES[3], ISSUES[0]]
    assert [d.item_id for d in label_issues_to_review(shuffled, 3, 1.0)] == ["a", "b", "c"]


@pytest.mark.parametrize(("top", "max_quality"), [(-1, 0.1), (5, -0.1), (5, 1.5)])
def test_a_bad_choice_is_refused(top: int, max_quality: float) -> None:
    with pytest.raises(ValueError, match="top|max_quality"):
        label_issues_to_review(ISSUES, top, max_quality)


def test_a_label_issue_goes_down_the_review_path_and_training_holds_it() -> None:
    labels = pd.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "task_id": [11, 12, 13],
            "label": ["cat", "cat", "dog"],
            "annotation_ids": [np.array([1]), np.array([2]), np.array([3])],
            "annotators": [np.array([100]), np.array([100]), np.array([101])],
            "last_annotated_at": pd.to_datetime([NOW, NOW, NOW], utc=True),
        }
    )
    chosen = label_issues_to_review(ISSUES, 2, 0.1)
    planned = plan_reviews(
        chosen,
        labels,
        ReviewLedger(project="p"),
        labels_version="v1",
        model_version="m1",
        now=NOW,
        reason="label_issue",
    )
    assert [(r.item_id, r.task_id, r.reason, r.model_label) for r in planned] == [
        ("a", 11, "label_issue", "dog"),
        ("b", 12, "label_issue", "dog"),
    ]
    kept, held = hold_for_review(labels, ReviewLedger(project="p").with_requests(planned))
    assert held == ["a", "b"] and kept["item_id"].tolist() == ["c"]
    # a dispute planned without a reason stays a dispute, as before
    again = plan_reviews(
        chosen[:1], labels, ReviewLedger(project="p"), labels_version="v1", model_version=None, now=NOW
    )
    assert again[0].reason == "disputed"
