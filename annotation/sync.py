"""Incremental label sync as pure functions: watermark, delta merge, readiness.

The sync asks Label Studio only for tasks whose ``updated_at`` is past the
watermark (Label Studio bumps a task's ``updated_at`` when one of its annotations is
created, edited or deleted; importing predictions does not). A changed task comes
back with all its current annotations, so the merge replaces each changed item's
label as a whole: an edit changes it, a deletion withdraws it, and re-reading a task
twice (the overlap window) changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from annotation.errors import LabelStudioDataError
from annotation.labels import LabelResolution
from annotation.models import LSTask
from annotation.versions import (
    RESOLVED,
    count_unresolved,
    empty_labels_frame,
    label_pairs,
    labels_frame,
    ordered_frame,
    with_consensus_columns,
)

# The only datetime format Label Studio's Data Manager filters accept
# (data_manager/managers.py DATETIME_FORMAT); read as UTC.
LS_FILTER_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


class SyncWatermark(BaseModel):
    """Where the last successful sync stopped.

    Attributes:
        updated_at: the newest task ``updated_at`` already merged (None = never synced).
        labels_version: the labels version that sync wrote.
    """

    model_config = ConfigDict(frozen=True)

    updated_at: dt.datetime | None = None
    labels_version: str | None = None


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"watermark {moment!r} has no timezone; use an aware UTC datetime")
    return moment.astimezone(dt.UTC)


def format_filter_datetime(moment: dt.datetime) -> str:
    """Format an aware datetime for a Label Studio Datetime filter.

    Args:
        moment: an aware datetime.

    Returns:
        ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC.
    """
    return _utc(moment).strftime(LS_FILTER_DATETIME_FORMAT)


CursorOperator = Literal["greater", "greater_or_equal", "equal"]


class ChangeCursor(BaseModel):
    """Where the next page of changed tasks starts (keyset pagination on ``updated_at``).

    Page numbers are unsafe while people annotate: a task updated during the read
    moves to the end of the ``updated_at`` order and shifts every later task one
    place forward, so one would be skipped, and the watermark would then pass it.
    Re-querying from the last ``updated_at`` read never skips.

    Attributes:
        since: the ``updated_at`` bound (None: no bound).
        operator: ``greater``, ``greater_or_equal`` (ties at a page boundary) or
            ``equal`` (read every task of one timestamp, for bulk changes that
            stamp more tasks than a page holds).
        annotated_only: also require at least one annotation (the first sync).
    """

    model_config = ConfigDict(frozen=True)

    since: dt.datetime | None = None
    operator: CursorOperator = "greater"
    annotated_only: bool = False


def start_cursor(
    watermark: dt.datetime | None, overlap: dt.timedelta = dt.timedelta(seconds=30)
) -> ChangeCursor:
    """The first cursor of a sync.

    The window starts ``overlap`` before the watermark so that a write committed
    late with an earlier timestamp is still read; re-reading is harmless because
    the merge is idempotent. The first sync (no watermark) reads every task once.

    Args:
        watermark: the previous watermark; None on the first sync.
        overlap: how far before the watermark to start.

    Returns:
        The cursor.
    """
    if watermark is None:
        # Every task, not `total_annotations > 0`: Label Studio 1.23's counter misses
        # fresh annotations (measured: 6 of 8 annotated tasks matched, 2 s later still 6).
        return ChangeCursor()
    return ChangeCursor(since=_utc(watermark) - overlap)


def changed_tasks_query(cursor: ChangeCursor) -> dict[str, Any]:
    """The ``query`` for ``tasks.list`` that selects the tasks past a cursor.

    Args:
        cursor: where to start.

    Returns:
        A dict to send JSON-encoded as ``query=``, ordered by ``updated_at``.
    """
    items: list[dict[str, Any]] = []
    if cursor.annotated_only:
        items.append(
            {
                "filter": "filter:tasks:total_annotations",
                "operator": "greater",
                "type": "Number",
                "value": 0,
            }
        )
    if cursor.since is not None:
        items.append(
            {
                "filter": "filter:tasks:updated_at",
                "operator": cursor.operator,
                "type": "Datetime",
                "value": format_filter_datetime(cursor.since),
            }
        )
    return {"filters": {"conjunction": "and", "items": items}, "ordering": ["tasks:updated_at"]}


def updated_since_query(
    watermark: dt.datetime | None, overlap: dt.timedelta = dt.timedelta(seconds=30)
) -> dict[str, Any]:
    """The ``query`` of the first page of tasks changed since the watermark.

    Args:
        watermark: the previous watermark; None selects every annotated task.
        overlap: how far before the watermark to start.

    Returns:
        A dict to send JSON-encoded as ``query=``.
    """
    return changed_tasks_query(start_cursor(watermark, overlap))


def next_cursor(
    cursor: ChangeCursor, page: Sequence[LSTask], page_size: int
) -> ChangeCursor | None:
    """The cursor after reading ``page`` (None when the read is complete).

    Args:
        cursor: the cursor the page was read with.
        page: the tasks read (for ``equal``: every page of that timestamp).
        page_size: the page size asked for.

    Returns:
        The next cursor, or None.

    Raises:
        LabelStudioDataError: a task in a full page has no ``updated_at`` (it was
            not included, so the read cannot continue safely).
    """
    if cursor.operator == "equal":
        return cursor.model_copy(update={"operator": "greater"})
    if len(page) < page_size:
        return None
    stamps = [task.updated_at for task in page]
    if any(stamp is None for stamp in stamps):
        raise LabelStudioDataError("tasks were read without 'updated_at': include it")
    last = _utc(max(stamp for stamp in stamps if stamp is not None))
    if all(stamp is not None and _utc(stamp) == last for stamp in stamps):
        return cursor.model_copy(update={"since": last, "operator": "equal"})
    return cursor.model_copy(update={"since": last, "operator": "greater_or_equal"})


def read_changed_tasks(
    fetch: Callable[[dict[str, Any], bool], Sequence[LSTask]],
    watermark: dt.datetime | None,
    overlap: dt.timedelta = dt.timedelta(seconds=30),
    page_size: int = 1000,
) -> list[LSTask]:
    """Read every task changed since the watermark, page by page, never skipping one.

    Args:
        fetch: ``fetch(query, all_pages)`` returns the first page of ``page_size``
            tasks for ``query`` (or every page when ``all_pages``); the tasks
            layer binds it to ``tasks.list``.
        watermark: the previous watermark; None on the first sync.
        overlap: how far before the watermark to start.
        page_size: the page size ``fetch`` uses.

    Returns:
        Each changed task once (its latest version read), oldest change first.
    """
    seen: dict[int, LSTask] = {}
    cursor: ChangeCursor | None = start_cursor(watermark, overlap)
    while cursor is not None:
        page = list(fetch(changed_tasks_query(cursor), cursor.operator == "equal"))
        for task in page:
            seen[task.id] = task
        cursor = next_cursor(cursor, page, page_size)
    return sorted(seen.values(), key=lambda task: (task.updated_at or _EPOCH, task.id))


def item_ids_query(item_ids: Sequence[str]) -> dict[str, Any]:
    """The ``query`` for ``tasks.list`` that selects tasks by ``data.item_id``.

    Args:
        item_ids: the ids to look for (keep a few hundred per call: the query
            travels in the URL).

    Returns:
        A dict to send JSON-encoded as ``query=``.
    """
    return {
        "filters": {
            "conjunction": "and",
            "items": [
                {
                    "filter": "filter:tasks:data.item_id",
                    "operator": "in_list",
                    "type": "String",
                    "value": list(item_ids),
                }
            ],
        }
    }


def advance_watermark(previous: dt.datetime | None, tasks: Iterable[LSTask]) -> dt.datetime | None:
    """The watermark after merging ``tasks``: the newest ``updated_at`` seen.

    Never moves backwards. Store it only after the labels are written.

    Args:
        previous: the watermark before this sync.
        tasks: the tasks this sync read.

    Returns:
        The new watermark (``previous`` when no task is newer).
    """
    stamps = [_utc(task.updated_at) for task in tasks if task.updated_at is not None]
    if previous is not None:
        stamps.append(_utc(previous))
    return max(stamps) if stamps else None


class LabelMerge(BaseModel):
    """A labels version after a merge, and what changed.

    Attributes:
        frame: the new version, one row per item (``annotation.versions.VERSION_COLUMNS``):
            resolved labels then unresolved items, each sorted by item_id.
        added: items that had no label and have one now.
        changed: items whose label value changed (a relabel).
        withdrawn: items that had a label and have none now (deleted, now tied,
            task deleted).
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    frame: pd.DataFrame
    added: tuple[str, ...] = Field(default=())
    changed: tuple[str, ...] = Field(default=())
    withdrawn: tuple[str, ...] = Field(default=())

    @property
    def touched(self) -> int:
        """How many items gained, changed or lost a label."""
        return len(self.added) + len(self.changed) + len(self.withdrawn)

    @property
    def labelled(self) -> int:
        """How many items have a label."""
        return len(self.frame) - count_unresolved(self.frame)


def merge_labels(previous: pd.DataFrame, delta: LabelResolution) -> LabelMerge:
    """Merge a delta resolution into the previous labels version.

    Every item in ``delta.seen_items`` takes its state from the delta: its new label,
    its unresolved votes, or nothing (withdrawn). The rows of every other item are
    kept as they are, untouched.

    Args:
        previous: the previous version's frame (``empty_labels_frame()`` before the first).
        delta: the resolution of the tasks changed since the watermark.

    Returns:
        The new version's frame and the items added, changed and withdrawn.

    Raises:
        ValueError: the previous version holds an item more than once.
    """
    previous = with_consensus_columns(previous)
    repeated = previous["item_id"][previous["item_id"].duplicated()].unique().tolist()
    if repeated:
        raise ValueError(
            f"the previous labels version holds items {sorted(repeated)[:5]} more than once"
        )
    seen = list(dict.fromkeys(delta.seen_items))
    old = label_pairs(previous[previous["item_id"].isin(seen)])
    # Several tasks may carry one item (imported twice): the last label read wins,
    # and an item with a label is not also unresolved.
    fresh = {label.item_id: label for label in delta.labels}
    still_open = {item.item_id: item for item in delta.unresolved if item.item_id not in fresh}
    added: list[str] = []
    changed: list[str] = []
    withdrawn: list[str] = []
    for item_id in seen:
        before, now = old.get(item_id), fresh.get(item_id)
        if now is None:
            if before is not None:
                withdrawn.append(item_id)
        elif before is None:
            added.append(item_id)
        elif before != now.label:
            changed.append(item_id)
    kept = previous[~previous["item_id"].isin(seen)]
    parts = [
        part for part in (kept, labels_frame(fresh.values(), still_open.values())) if not part.empty
    ]
    frame = pd.concat(parts, ignore_index=True) if parts else empty_labels_frame()
    return LabelMerge(
        frame=ordered_frame(frame),
        added=tuple(added),
        changed=tuple(changed),
        withdrawn=tuple(withdrawn),
    )


def diff_labels(previous: pd.DataFrame, frame: pd.DataFrame) -> LabelMerge:
    """``frame`` as a merge of ``previous``: every item whose label appeared, changed or went.

    Used after the consensus re-decides a version, where any item may change.

    Args:
        previous: the previous version.
        frame: the new version.

    Returns:
        ``frame`` with the items added, changed and withdrawn (each sorted).
    """
    before, after = label_pairs(previous), label_pairs(frame)
    return LabelMerge(
        frame=frame,
        added=tuple(sorted(set(after) - set(before))),
        changed=tuple(sorted(i for i in set(after) & set(before) if after[i] != before[i])),
        withdrawn=tuple(sorted(set(before) - set(after))),
    )


def withdraw_deleted_tasks(frame: pd.DataFrame, existing_task_ids: Iterable[int]) -> LabelMerge:
    """Withdraw the labels of tasks that no longer exist in Label Studio.

    A deleted task never shows up in an ``updated_at`` delta, so a periodic
    reconcile lists the project's task ids and calls this.

    Args:
        frame: the current labels version.
        existing_task_ids: every task id the project holds now.

    Returns:
        The version without the labels of missing tasks, and the withdrawn items.
    """
    existing = {int(task_id) for task_id in existing_task_ids}
    gone = (frame["status"] == RESOLVED) & ~frame["task_id"].astype(int).isin(existing)
    return LabelMerge(
        frame=frame[~gone].reset_index(drop=True),
        withdrawn=tuple(sorted(frame.loc[gone, "item_id"].astype(str))),
    )


def count_labels_gained(frame: pd.DataFrame, trained: Mapping[str, str]) -> int:
    """How many items have a label the last training did not see.

    Args:
        frame: the current labels version.
        trained: item_id -> label as used by the last training (empty if none).

    Returns:
        Items labelled since, plus items relabelled since.
    """
    resolved = frame[["item_id", "label"]][frame["status"] == RESOLVED]
    seen = resolved["item_id"].astype(str).map(dict(trained))
    return int((seen != resolved["label"].astype(str)).sum())


def labels_ready(gained: int, threshold: int) -> bool:
    """Whether enough labels were gained to announce ``labelloop.labels.ready``.

    Args:
        gained: from :func:`count_labels_gained`.
        threshold: the flow parameter (>= 1).

    Returns:
        True when ``gained`` reaches ``threshold``.

    Raises:
        ValueError: threshold < 1.
    """
    if threshold < 1:
        raise ValueError(f"threshold must be >= 1, got {threshold}")
    return gained >= threshold
