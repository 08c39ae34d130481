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
    announced_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    repeat_after: dt.timedelta | None = None,
) -> bool:
    """Emit `labels.ready` once per labels version when enough labels are new, and again
    when that announcement found no taker.

    Still `gained >= threshold` after announcing the same version means no training has
    used it (a training run records its labels, and the count starts again). If the
    retrain run the event started was lost (its worker stopped, it crashed), the labels
    would wait for the next labels version; so after `repeat_after` the version is
    announced again. A duplicate retrain costs a run; a lost one costs the whole loop.

    Args:
        gained: labels new or changed since the last training run.
        threshold: how many make a retrain worthwhile.
        version: the current labels version (None before the first).
        announced: the version the last `labels.ready` named.
        announced_at: when it was announced (None: unknown, long ago).
        now: the current time (needed with `repeat_after`).
        repeat_after: announce an untrained version again after this long (None: never).
    """
    if version is None or gained < threshold:
        return False
    if version != announced:
        return True
    if repeat_after is None or now is None:
        return False
    return announced_at is None or now - announced_at >= repeat_after
