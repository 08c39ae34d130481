"""Disputed labels sent back for review: what is sent, what waits, what training leaves out."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from monitoring.decisions import DisputedLabel
from monitoring.review import (
    ReviewLedger,
    disputes_markdown,
    hold_for_review,
    plan_reviews,
    waiting_for_review,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=1)


def _labels(rows: list[tuple[str, str | None, list[int], dt.datetime | None]]) -> pd.DataFrame:
    """A labels version as read back from parquet (numpy arrays in the list columns)."""
    return pd.DataFrame(
        {
            "item_id": [r[0] for r in rows],
            "task_id": [10 + n for n in range(len(rows))],
            "label": [r[1] for r in rows],
            "status": ["resolved" if r[1] is not None else "unresolved" for r in rows],
            "annotation_ids": [np.array(r[2], dtype=np.int64) for r in rows],
            "annotators": [np.array([100 + a for a in r[2]], dtype=np.int64) for r in rows],
            "last_annotated_at": pd.to_datetime([r[3] for r in rows], utc=True),
        }
    )


def _dispute(item_id: str, label: str, model_label: str, p: float = 0.97) -> DisputedLabel:
    return DisputedLabel(
        item_id=item_id,
        label=label,
        model_label=model_label,
        model_probability=p,
        label_probability=0.01,
    )


@pytest.fixture
def labels() -> pd.DataFrame:
    return _labels(
        [
            ("a", "1", [1], T0),
            ("b", "2", [2, 3], T0),
            ("c", "3", [4], T0),
        ]
    )


def _ledger(labels: pd.DataFrame, *disputes: DisputedLabel) -> ReviewLedger:
    ledger = ReviewLedger(project="digits")
    planned = plan_reviews(
        disputes, labels, ledger, labels_version="v1", model_version="m1", now=NOW
    )
    return ledger.with_requests(planned)


def test_plan_reviews_records_the_votes_as_they_stood(labels: pd.DataFrame) -> None:
    planned = plan_reviews(
        [_dispute("b", "2", "7", 0.99), _dispute("a", "1", "4")],
        labels,
        ReviewLedger(project="digits"),
        labels_version="v1",
        model_version="m1",
        now=NOW,
    )
    assert [(r.item_id, r.task_id, r.annotators, r.annotation_ids) for r in planned] == [
        ("b", 11, 2, (2, 3)),
        ("a", 10, 1, (1,)),
    ]
    assert planned[0].model_label == "7" and planned[0].last_annotated_at == T0


def test_an_item_is_sent_back_once(labels: pd.DataFrame) -> None:
    ledger = _ledger(labels, _dispute("a", "1", "4"))
    again = plan_reviews(
        [_dispute("a", "1", "4"), _dispute("c", "3", "8")],
        labels,
        ledger,
        labels_version="v2",
        model_version="m2",
        now=NOW,
    )
    assert [r.item_id for r in again] == ["c"]
    assert [r.item_id for r in ledger.with_requests(again).requests] == ["a", "c"]
    assert ledger.with_requests(ledger.requests).requests == ledger.requests


def test_plan_reviews_rejects_an_unknown_item(labels: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="disputed item zz is not in labels v1"):
        plan_reviews(
            [_dispute("zz", "1", "2")],
            labels,
            ReviewLedger(project="digits"),
            labels_version="v1",
            model_version=None,
            now=NOW,
        )


@pytest.mark.parametrize(
    ("row", "waits"),
    [
        (("a", "1", [1], T0), True),  # nobody looked yet
        (("a", "1", [1, 9], T0 + dt.timedelta(hours=1)), False),  # a second annotator voted
        (("a", None, [], None), False),  # a second vote made it a tie: unresolved
        (("a", "4", [1], T0 + dt.timedelta(hours=1)), False),  # the annotator changed it
        (("a", "1", [1], T0 + dt.timedelta(hours=1)), False),  # looked again, kept the label
        (("a", "1", [9], T0), False),  # the annotation was replaced
    ],
)
def test_an_item_waits_until_its_votes_change(
    labels: pd.DataFrame, row: tuple[str, str | None, list[int], dt.datetime | None], waits: bool
) -> None:
    ledger = _ledger(labels, _dispute("a", "1", "4"))
    later = _labels([row, ("b", "2", [2, 3], T0)])
    assert [r.item_id for r in waiting_for_review(ledger, later)] == (["a"] if waits else [])


def test_training_holds_back_only_waiting_items(labels: pd.DataFrame) -> None:
    ledger = _ledger(labels, _dispute("a", "1", "4"), _dispute("b", "2", "5"))
    later = _labels([("a", "1", [1], T0), ("b", "2", [2, 3, 7], NOW), ("c", "3", [4], T0)])
    kept, held = hold_for_review(later, ledger)
    assert held == ["a"]
    assert kept["item_id"].tolist() == ["b", "c"]
    untouched, none = hold_for_review(later, ReviewLedger(project="digits"))
    assert none == [] and untouched is later


def test_an_item_whose_task_is_gone_does_not_wait(labels: pd.DataFrame) -> None:
    ledger = _ledger(labels, _dispute("a", "1", "4"))
    assert waiting_for_review(ledger, labels[labels["item_id"] != "a"]) == []


def test_disputes_markdown_lists_items_and_reviews(labels: pd.DataFrame) -> None:
    disputes = [_dispute("b", "2", "7", 0.99), _dispute("a", "1", "4", 0.95)]
    sent = _ledger(labels, disputes[0]).requests
    text = disputes_markdown(
        disputes,
        {"a": 10, "b": 11},
        labels_version="v1",
        model_version="m1",
        threshold=0.9,
        scored=40,
        requested=sent,
        waiting=1,
    )
    assert "on 2 of the 40 labelled items it never trained on" in text
    assert "| b | 11 | 2 | 7 | 0.990 | 0.010 | requested |" in text
    assert "| a | 10 | 1 | 4 | 0.950 | 0.010 |  |" in text
    assert "Sent back to Label Studio for another annotator now: 1" in text
    empty = disputes_markdown(
        [], {}, labels_version="v2", model_version="m1", threshold=0.9, scored=0
    )
    assert "on 0 of the 0" in empty and "|" not in empty
