"""Pure decisions of a push."""

from __future__ import annotations

from collections.abc import Iterable

from annotation.ledger import PushLedger


def already_handled(ledger: PushLedger, labelled: Iterable[str]) -> set[str]:
    """Items a selection must never return: pushed (or maybe pushed) or labelled."""
    return set(ledger.entries) | set(labelled)
