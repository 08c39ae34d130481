"""Labels versions as frames, and the pure decisions of a label sync about them.

A labels version is one frame, one row per item (``VERSION_COLUMNS``): resolved labels
first, then unresolved items with a null label, each part sorted by ``item_id``. A
sync works on the frame directly, so the thousands of rows it does not touch are never
turned into objects and back.

``label`` is the label training uses; ``majority_label`` (None on a tie),
``consensus_label``, ``consensus_quality`` and ``method`` say how it was reached, and
``vote_annotators`` / ``vote_labels`` who voted what. Versions written before those
columns existed (``LABEL_COLUMNS`` only) still read: :func:`with_consensus_columns`
fills them as a majority decision without recorded voters.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from annotation.consensus import Consensus, compute_consensus
from annotation.labels import (
    ItemLabel,
    LabelPolicy,
    UnresolvedItem,
    vote_lists,
    votes_of_lists,
)

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
CONSENSUS_COLUMNS = [
    "majority_label",
    "consensus_label",
    "consensus_quality",
    "method",
    "vote_annotators",
    "vote_labels",
]
VERSION_COLUMNS = LABEL_COLUMNS + CONSENSUS_COLUMNS


def empty_labels_frame() -> pd.DataFrame:
    """The frame of a project that has no labels version yet."""
    return pd.DataFrame(columns=VERSION_COLUMNS)


def with_consensus_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A labels version with every column of ``VERSION_COLUMNS``.

    A version written before the consensus columns gets them as a majority decision:
    ``majority_label`` and ``consensus_label`` are its label, ``method`` is ``majority``,
    and no voter is recorded (its rows are never re-decided).

    Args:
        frame: a version with at least ``LABEL_COLUMNS``.

    Returns:
        The frame in ``VERSION_COLUMNS`` order (the same frame when nothing is missing).
    """
    if all(column in frame.columns for column in CONSENSUS_COLUMNS):
        return frame[VERSION_COLUMNS]
    upgraded = frame.copy()
    defaults = {
        "majority_label": upgraded["label"],
        "consensus_label": upgraded["label"],
        "consensus_quality": None,
        "method": "majority",
        "vote_annotators": [[] for _ in range(len(upgraded))],
        "vote_labels": [[] for _ in range(len(upgraded))],
    }
    for column, value in defaults.items():
        if column not in upgraded.columns:
            upgraded[column] = value
    return upgraded[VERSION_COLUMNS]


def labels_frame(labels: Iterable[ItemLabel], unresolved: Iterable[UnresolvedItem]) -> pd.DataFrame:
    """One row per item: resolved labels, then unresolved items with a null label.

    Args:
        labels: resolved labels.
        unresolved: items whose votes settle no label.

    Returns:
        The rows in ``VERSION_COLUMNS``, in the order given.
    """
    rows = [
        {
            **label.to_record(),
            "status": RESOLVED,
            "reason": None,
            "majority_label": label.label,
            "consensus_label": label.label,
            "consensus_quality": None,
            "method": "majority",
        }
        for label in labels
    ]
    rows += [
        {
            **vote_lists(item.annotator_votes),
            "majority_label": _plurality(item.votes),
            "consensus_label": None,
            "consensus_quality": None,
            "method": "majority",
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
    return pd.DataFrame(rows, columns=VERSION_COLUMNS)


def _plurality(votes: dict[str, int]) -> str | None:
    """The most voted label of a vote count (None on a tie)."""
    ranked = sorted(votes.items(), key=lambda pair: -pair[1])
    if not ranked or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        return None
    return ranked[0][0]


def ordered_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Resolved rows then unresolved ones, each sorted by item_id, in ``VERSION_COLUMNS``."""
    order = (frame["status"] != RESOLVED).astype(int)
    return (
        frame.assign(_unresolved=order)
        .sort_values(["_unresolved", "item_id"], kind="stable")
        .drop(columns="_unresolved")
        .reset_index(drop=True)[VERSION_COLUMNS]
    )


def apply_consensus(
    frame: pd.DataFrame,
    classes: Sequence[str],
    probabilities: pd.DataFrame | None,
    policy: LabelPolicy,
    skips: Mapping[str, int] | None = None,
) -> tuple[pd.DataFrame, Consensus]:
    """Re-decide every item with recorded voters from all votes of the version.

    Annotator weights depend on every vote, so an item nobody touched can change label
    when others are annotated; rows without recorded voters (older versions) keep theirs.

    Args:
        frame: a version with ``VERSION_COLUMNS``.
        classes: the label set.
        probabilities: the champion's out-of-sample probabilities by item id (None: none).
        policy: the label policy.
        skips: annotator id -> skipped annotations (reported in the annotator quality).

    Returns:
        The re-decided version (ordered) and the consensus with every annotator's quality.
    """
    votes: dict[str, dict[str, str]] = {}
    for item_id, annotators, labels in zip(
        frame["item_id"], frame["vote_annotators"], frame["vote_labels"], strict=True
    ):
        given = votes_of_lists(annotators, labels)
        if given:
            votes[str(item_id)] = given
    consensus = compute_consensus(votes, classes, probabilities, policy, skips)
    if not votes:
        return ordered_frame(frame), consensus
    decided = consensus.by_item()
    updated = frame.copy()
    updated["consensus_quality"] = updated["consensus_quality"].astype(float)
    rows = updated["item_id"].astype(str).isin(decided)
    positions = updated.index[rows]
    items = [decided[str(i)] for i in updated.loc[rows, "item_id"]]
    updated.loc[positions, "label"] = [item.label for item in items]
    updated.loc[positions, "status"] = [RESOLVED if item.label else UNRESOLVED for item in items]
    updated.loc[positions, "reason"] = [item.reason.value if item.reason else None for item in items]
    updated.loc[positions, "agreement"] = [item.agreement for item in items]
    updated.loc[positions, "majority_label"] = [item.majority_label for item in items]
    updated.loc[positions, "consensus_label"] = [item.consensus_label for item in items]
    updated.loc[positions, "consensus_quality"] = [
        float("nan") if item.quality is None else item.quality for item in items
    ]
    updated.loc[positions, "method"] = [item.method.value for item in items]
    return ordered_frame(updated), consensus


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
            annotator_votes=votes_of_lists(row.get("vote_annotators"), row.get("vote_labels")),
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


TREND_COLUMNS = ["item_id", "label", "status", "vote_annotators", "vote_labels"]
SPARKS = "▁▂▃▄▅▆▇█"
SPARK_FLOOR = 0.5  # accuracy at or below which the sparkline is at its lowest
NO_ESTIMATE = "·"


def annotator_accuracy(frame: pd.DataFrame) -> dict[str, float]:
    """Each annotator's estimated accuracy in one labels version, from its stored columns.

    As in :func:`annotation.consensus.compute_consensus`: the share of their votes equal to
    the label of the items the version labelled (unresolved items do not count). A version
    without recorded voters (written before the consensus columns) estimates nobody.

    Args:
        frame: a labels version with ``label``, ``status``, ``vote_annotators``,
            ``vote_labels`` (the last two may be missing).

    Returns:
        annotator id -> accuracy, for every annotator with a vote on a labelled item.
    """
    if "vote_annotators" not in frame.columns or "vote_labels" not in frame.columns:
        return {}
    judged: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    resolved = frame[frame["status"] == RESOLVED]
    for label, annotators, labels in zip(
        resolved["label"], resolved["vote_annotators"], resolved["vote_labels"], strict=True
    ):
        for annotator, vote in votes_of_lists(annotators, labels).items():
            judged[annotator] += 1
            hits[annotator] += int(vote == str(label))
    return {annotator: hits[annotator] / n for annotator, n in judged.items()}


def spark(value: float | None) -> str:
    """One character for an accuracy: ▁ at ``SPARK_FLOOR`` (a coin flip between two
    classes) or below, up to █ near 1; · for no estimate."""
    if value is None or math.isnan(value):
        return NO_ESTIMATE
    share = (min(max(value, SPARK_FLOOR), 1.0) - SPARK_FLOOR) / (1.0 - SPARK_FLOOR)
    return SPARKS[min(int(share * len(SPARKS)), len(SPARKS) - 1)]


def annotator_trends(
    history: Sequence[Mapping[str, float]], current: Mapping[str, float | None]
) -> dict[str, str]:
    """Each annotator's estimate over recent labels versions, as text a table cell holds.

    Args:
        history: per earlier version, oldest first, annotator id -> accuracy
            (:func:`annotator_accuracy`).
        current: annotator id -> accuracy in the version reported now (None: no estimate).

    Returns:
        annotator id (those of ``current``) -> a sparkline and the figures, oldest first,
        e.g. ``"█▇▆ 0.97 0.90 0.81"``; ``·`` / ``-`` where a version has no estimate of them.
    """
    trends: dict[str, str] = {}
    for annotator, now in current.items():
        values = [version.get(annotator) for version in history] + [now]
        figures = " ".join("-" if v is None else f"{v:.2f}" for v in values)
        trends[annotator] = f"{''.join(spark(v) for v in values)} {figures}"
    return trends


def people_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """A version's items labelled by the people's own majority (`majority_label`), which
    becomes `label`: what a model is judged against. The consensus label is not, since
    the champion's probabilities helped decide it. Items with no majority (a tie) drop."""
    if "majority_label" not in frame.columns:
        return frame
    kept = frame[frame["majority_label"].notna()]
    return kept.assign(label=kept["majority_label"])
