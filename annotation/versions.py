"""Labels versions as frames, and the pure decisions of a label sync about them.

A labels version is one frame, one row per item (``LABEL_COLUMNS``): resolved labels
first, then unresolved items with a null label, each part sorted by ``item_id``. A
sync works on the frame directly, so the thousands of rows it does not touch are never
turned into objects and back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd

from annotation.labels import ItemLabel, UnresolvedItem

RESOLVED = "resolved"
UNRESOLVED = "unresolved"
LABEL_COLUMNS = [
    "item_id",
    "task_id",
    "label",
    "status",
    "reason",
    "agreement",
    "annotators",
    "annotation_ids",
    "votes",
    "first_annotated_at",
    "last_annotated_at",
    "model_version",
]


def empty_labels_frame() -> pd.DataFrame:
    """The frame of a project that has no labels version yet."""
    return pd.DataFrame(columns=LABEL_COLUMNS)


def labels_frame(labels: Iterable[ItemLabel], unresolved: Iterable[UnresolvedItem]) -> pd.DataFrame:
    """One row per item: resolved labels, then unresolved items with a null label.

    Args:
        labels: resolved labels.
        unresolved: items whose votes settle no label.

    Returns:
        The rows in ``LABEL_COLUMNS``, in the order given.
    """
    rows = [{**label.to_record(), "status": RESOLVED, "reason": None} for label in labels]
    rows += [
        {
            "item_id": item.item_id,
            "task_id": item.task_id,
            "label": None,
            "status": UNRESOLVED,
            "reason": item.reason.value,
            "agreement": item.agreement,
            "annotators": list(item.annotators),
            "annotation_ids": [],
            "votes": [f"{label}:{count}" for label, count in sorted(item.votes.items())],
            "first_annotated_at": None,
            "last_annotated_at": None,
            "model_version": None,
        }
        for item in unresolved
    ]
    return pd.DataFrame(rows, columns=LABEL_COLUMNS)


def resolved_labels(frame: pd.DataFrame) -> list[ItemLabel]:
    """The resolved rows of a labels version as ``ItemLabel``s."""
    resolved = frame[frame["status"] == RESOLVED].drop(columns=["status", "reason"])
    return [ItemLabel.from_record(record) for record in resolved.to_dict("records")]


def unresolved_items(frame: pd.DataFrame) -> list[UnresolvedItem]:
    """The unresolved rows of a labels version as ``UnresolvedItem``s."""
    rows = frame[frame["status"] == UNRESOLVED]
    return [
        UnresolvedItem(
            item_id=row["item_id"],
            task_id=int(row["task_id"]),
            reason=row["reason"],
            votes={
                label: int(count)
                for label, _, count in (str(v).rpartition(":") for v in row["votes"])
            },
            agreement=float(row["agreement"]),
            annotators=tuple(int(a) for a in row["annotators"]),
        )
        for row in rows.to_dict("records")
    ]


def label_pairs(frame: pd.DataFrame) -> dict[str, str]:
    """item_id -> label of the resolved rows of a labels version."""
    resolved = frame["status"] == RESOLVED
    items, labels = frame.loc[resolved, "item_id"].tolist(), frame.loc[resolved, "label"].tolist()
    return {str(item): str(label) for item, label in zip(items, labels, strict=True)}


def count_unresolved(frame: pd.DataFrame) -> int:
    """How many items of a labels version have votes but no label."""
    return int((frame["status"] == UNRESOLVED).sum())


def should_announce(
    gained: int,
    threshold: int,
    version: str | None,
    announced: str | None,
    trained: str | None = None,
    announced_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    repeat_after: dt.timedelta | None = None,
) -> bool:
    """Whether the sync emits `labels.ready` now.

    Enough new labels (`gained >= threshold`) announce the current labels version, unless
    an announcement is still outstanding: a version was announced that no training has
    used yet (labels versions sort by time, so `trained < announced`). Its retrain run is
    queued or running, and the labels that came since are counted again once it records
    what it used; announcing every version a busy annotator produces would queue a
    retrain for each. If the outstanding announcement is older than `repeat_after`, its
    retrain run was lost (its worker stopped, it crashed) and the current version is
    announced again: a duplicate retrain costs a run, a lost one the whole loop.

    Args:
        gained: labels new or changed since the last training run.
        threshold: how many make a retrain worthwhile.
        version: the current labels version (None before the first).
        announced: the version the last `labels.ready` named (None: never announced).
        trained: the version the last training run used (None: never trained).
        announced_at: when `announced` was announced (None: unknown, long ago).
        now: the current time (needed with `repeat_after`).
        repeat_after: announce again after this long without a training (None: never).
    """
    if version is None or gained < threshold:
        return False
    outstanding = announced is not None and (trained is None or trained < announced)
    if not outstanding:
        return version != announced
    if repeat_after is None or now is None:
        return False
    return announced_at is None or now - announced_at >= repeat_after
