"""Pure decisions of a label sync: which unresolved items remain, whether to announce."""

from __future__ import annotations

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


def should_announce(gained: int, threshold: int, version: str | None, announced: str | None) -> bool:
    """Emit `labels.ready` once per labels version, when enough labels are new.

    Args:
        gained: labels new or changed since the last training run.
        threshold: how many make a retrain worthwhile.
        version: the current labels version (None before the first).
        announced: the version the last `labels.ready` named.
    """
    return version is not None and gained >= threshold and version != announced
