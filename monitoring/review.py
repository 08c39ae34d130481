"""Disputed labels sent back for a second look: the review ledger and which items wait.

An item is disputed (`monitoring.decisions.disputed`) when the champion, which never
trained on it, gives a class other than the human label a high probability. When
reviews are on, the monitor flow asks Label Studio for one more annotator on the
item's task and records a `ReviewRequest` in the project's `ReviewLedger`. The retrain
flow sends its top label issues (`label_issues_to_review`: labels its own out-of-fold
model doubts most, trained-on items included) down the same path, and the push its
second opinions (`learning.second_opinions`).

An item *waits for review* until its votes change after the request: a new or
deleted annotation, another label, or an edited annotation (a later
``last_annotated_at``). Training leaves waiting items out, so a label the model
disputes is looked at again before anything is trained on it. Each item is sent back
at most once: after a second look the people's verdict stands, even when the model
still disagrees.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from learning.label_issues import LabelIssue
from monitoring.decisions import DisputedLabel

ITEM_ID = "item_id"

ReviewReason = Literal["disputed", "label_issue", "second_opinion"]


class ReviewRequest(BaseModel):
    """One disputed item sent back to Label Studio, as its votes stood then."""

    item_id: str
    task_id: int
    labels_version: str = Field(description="The labels version in which it was disputed.")
    model_version: str | None = Field(description="The champion that disputed it.")
    label: str = Field(description="The human label at the time.")
    model_label: str
    model_probability: float
    annotation_ids: tuple[int, ...] = Field(description="The annotations that had voted.")
    annotators: int = Field(ge=0, description="People who had voted.")
    last_annotated_at: dt.datetime | None
    requested_at: dt.datetime
    overlap: int | None = Field(
        default=None, description="The task's overlap in Label Studio after the request."
    )
    reason: ReviewReason = Field(
        default="disputed",
        description="disputed: the champion, never trained on it, disputes it (monitor); "
        "label_issue: a training run's out-of-fold model doubts it (retrain); "
        "second_opinion: ActiveLab ranks one more label on it above a new item (push).",
    )


class ReviewLedger(BaseModel):
    """Every review request of a project (`state/review/<project>.json`)."""

    project: str
    requests: list[ReviewRequest] = Field(default_factory=list)

    def requested(self) -> set[str]:
        """The items ever sent back for review."""
        return {r.item_id for r in self.requests}

    def with_requests(self, sent: Iterable[ReviewRequest]) -> ReviewLedger:
        """The ledger with `sent` added; an item already in the ledger keeps its first request."""
        known = self.requested()
        added = [r for r in sent if r.item_id not in known]
        return self.model_copy(update={"requests": [*self.requests, *added]})


def _ids(value: Any) -> tuple[int, ...]:
    """Annotation ids of a labels row (a list, or a numpy array once read from parquet)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ()
    return tuple(int(v) for v in value)


def _time(value: Any) -> dt.datetime | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime()


def plan_reviews(
    disputes: Sequence[DisputedLabel],
    labels: pd.DataFrame,
    ledger: ReviewLedger,
    *,
    labels_version: str,
    model_version: str | None,
    now: dt.datetime,
    reason: ReviewReason = "disputed",
) -> list[ReviewRequest]:
    """The review requests to send for these disputes: one per item never sent back before.

    Args:
        disputes: The disputed items of `labels` (`monitoring.decisions.disputed`).
        labels: The labels version (``item_id``, ``task_id``, ``label``,
            ``annotation_ids``, ``annotators``, ``last_annotated_at``).
        ledger: The project's review ledger.
        labels_version: The labels version the disputes come from.
        model_version: The champion's version.
        now: The request time recorded.
        reason: Why they are sent back (recorded with each request).

    Returns:
        The new requests, in the order of `disputes` (most confident first).

    Raises:
        ValueError: a disputed item is not in `labels`, or a column is missing.
    """
    needed = [ITEM_ID, "task_id", "annotation_ids", "annotators", "last_annotated_at"]
    missing = [c for c in needed if c not in labels.columns]
    if missing:
        raise ValueError(f"labels have no column(s) {missing} (columns: {list(labels.columns)})")
    rows = labels.assign(**{ITEM_ID: labels[ITEM_ID].astype(str)}).set_index(ITEM_ID)
    known = ledger.requested()
    planned: list[ReviewRequest] = []
    for dispute in disputes:
        if dispute.item_id in known:
            continue
        if dispute.item_id not in rows.index:
            raise ValueError(f"disputed item {dispute.item_id} is not in labels {labels_version}")
        row = rows.loc[dispute.item_id]
        planned.append(
            ReviewRequest(
                item_id=dispute.item_id,
                task_id=int(row["task_id"]),
                labels_version=labels_version,
                model_version=model_version,
                label=dispute.label,
                model_label=dispute.model_label,
                model_probability=dispute.model_probability,
                annotation_ids=_ids(row["annotation_ids"]),
                annotators=len(_ids(row["annotators"])),
                last_annotated_at=_time(row["last_annotated_at"]),
                requested_at=now,
                reason=reason,
            )
        )
    return planned


def label_issues_to_review(
    issues: Sequence[LabelIssue], top: int, max_quality: float
) -> list[DisputedLabel]:
    """The label issues worth a second look, as disputes for :func:`plan_reviews`.

    Args:
        issues: A training run's label issues, lowest label quality first
            (`learning.label_issues.rank_label_issues`).
        top: The most items sent back (0: none).
        max_quality: Only labels whose cleanlab label quality (the out-of-fold
            probability of the given label) is at most this.

    Returns:
        Up to `top` issues with quality <= `max_quality`, worst first; the out-of-fold
        model's class and probability stand where a dispute has the champion's.

    Raises:
        ValueError: `top` below 0 or `max_quality` outside [0, 1].
    """
    if top < 0:
        raise ValueError(f"top must be >= 0, got {top}")
    if not 0 <= max_quality <= 1:
        raise ValueError(f"max_quality must be in [0, 1], got {max_quality}")
    ranked = sorted(issues, key=lambda issue: issue.quality)
    return [
        DisputedLabel(
            item_id=issue.item_id,
            label=issue.label,
            model_label=issue.predicted,
            model_probability=issue.predicted_probability,
            label_probability=issue.quality,
        )
        for issue in ranked
        if issue.quality <= max_quality
    ][:top]


def waiting_for_review(ledger: ReviewLedger, labels: pd.DataFrame) -> list[ReviewRequest]:
    """The requests whose item still has the votes it had when it was sent back.

    An item missing from `labels` (its task was deleted) does not wait: there is nothing
    to train on.

    Args:
        ledger: The project's review ledger.
        labels: A labels version.

    Returns:
        The requests still waiting, in ledger order.
    """
    if not ledger.requests:
        return []
    for column in (ITEM_ID, "label", "annotation_ids", "last_annotated_at"):
        if column not in labels.columns:
            raise ValueError(f"labels have no {column!r} column (columns: {list(labels.columns)})")
    rows = labels.assign(**{ITEM_ID: labels[ITEM_ID].astype(str)}).set_index(ITEM_ID)
    waiting = []
    for request in ledger.requests:
        if request.item_id not in rows.index:
            continue
        row = rows.loc[request.item_id]
        same_votes = set(_ids(row["annotation_ids"])) == set(request.annotation_ids)
        label = row["label"]
        same_label = label is not None and not pd.isna(label) and str(label) == request.label
        edited_at = _time(row["last_annotated_at"])
        edited = (
            edited_at is not None
            and request.last_annotated_at is not None
            and edited_at > request.last_annotated_at
        )
        if same_votes and same_label and not edited:
            waiting.append(request)
    return waiting


def hold_for_review(labels: pd.DataFrame, ledger: ReviewLedger) -> tuple[pd.DataFrame, list[str]]:
    """The labels version without the items waiting for review.

    Args:
        labels: A labels version.
        ledger: The project's review ledger.

    Returns:
        (the rows to train on, the item ids held back).
    """
    held = [r.item_id for r in waiting_for_review(ledger, labels)]
    if not held:
        return labels, []
    return labels[~labels[ITEM_ID].astype(str).isin(set(held))], held


def disputes_markdown(
    disputes: Sequence[DisputedLabel],
    task_ids: dict[str, int],
    *,
    labels_version: str,
    model_version: str | None,
    threshold: float,
    scored: int,
    requested: Sequence[ReviewRequest] = (),
    waiting: int = 0,
    limit: int = 200,
) -> str:
    """The disputed labels of one labels version as a markdown artifact.

    Args:
        disputes: The disputed items, most confident first.
        task_ids: item id -> Label Studio task id.
        labels_version: The labels version.
        model_version: The champion.
        threshold: The probability at which a dispute counts.
        scored: Items the champion was judged on (never trained on).
        requested: The review requests sent by this run.
        waiting: Items of the ledger still waiting for review.
        limit: Rows listed at most.

    Returns:
        Markdown.
    """
    sent = {r.item_id for r in requested}
    lines = [
        f"# Disputed labels of {labels_version}",
        "",
        (
            f"The champion {model_version} gives another class probability >= {threshold:.2f} "
            f"on {len(disputes)} of the {scored} labelled items it never trained on."
        ),
    ]
    if requested or waiting:
        lines.append(
            f"Sent back to Label Studio for another annotator now: {len(requested)}; "
            f"waiting for review in all: {waiting} (left out of training until reviewed)."
        )
    if not disputes:
        return "\n".join(lines) + "\n"
    lines += [
        "",
        "| item | task | human label | model says | p(model) | p(human label) | review |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in disputes[:limit]:
        task = task_ids.get(d.item_id, "")
        review = "requested" if d.item_id in sent else ""
        lines.append(
            f"| {d.item_id} | {task} | {d.label} | {d.model_label} | {d.model_probability:.3f} "
            f"| {d.label_probability:.3f} | {review} |"
        )
    if len(disputes) > limit:
        lines.append(f"\n{len(disputes) - limit} more not listed.")
    return "\n".join(lines) + "\n"
