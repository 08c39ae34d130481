"""Pure decisions of a label sync: which unresolved items remain, whether to announce."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from annotation.labels import ItemLabel, LabelResolution, UnresolvedItem


def carry_unresolved(
    previous: Iterable[UnresolvedItem], delta: LabelResolution, labels: Iterable[ItemLabel]
) -> list[UnresolvedItem]:
    """Unresolved items after a delta: the delta's own, plus earlier ones it did not touch.

    An item the delta saw takes its state from the delta; an item that has a label now
    is not unresolved.
    """
    seen = set(delta.seen_items)
    labelled = {label.item_id for label in labels}
    kept = [item for item in previous if item.item_id not in seen and item.item_id not in labelled]
    return sorted([*kept, *delta.unresolved], key=lambda item: item.item_id)


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
