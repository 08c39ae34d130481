"""The push ledger: which items were sent to a project, and what still needs import.

Protocol (the push flow follows it):

1. ``plan_push`` on the selection: items already imported (per ledger) are left out.
   Items the ledger marks *pending* (a previous run wrote the mark, then may have
   crashed before or after the import call) are looked up in Label Studio by
   ``item_id`` first (``items_to_verify``); the ones found are not imported again.
2. Before each chunk's import call, ``with_pending`` marks its items and the ledger
   is saved.
3. After the call, ``with_imported`` records their task ids and the ledger is saved.

A crash anywhere leaves at most one chunk pending, which step 1 resolves against
Label Studio, so no item is imported twice; overlapping selections are covered
because imported items are never planned again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class LedgerStatus(StrEnum):
    """Where an item is in the push protocol."""

    PENDING = "pending"
    IMPORTED = "imported"


class LedgerEntry(BaseModel):
    """One item's push record.

    Attributes:
        status: pending (import may or may not have happened) or imported.
        task_id: the Label Studio task id once known.
        push_id: the push run that last touched the entry.
        updated_at: when the entry was last written.
    """

    model_config = ConfigDict(frozen=True)

    status: LedgerStatus
    task_id: int | None = None
    push_id: str
    updated_at: dt.datetime


class PushLedger(BaseModel):
    """The push ledger of one Label Studio project (stored as JSON in the DataStore).

    Attributes:
        project_id: the Label Studio project.
        entries: item_id -> entry.
    """

    model_config = ConfigDict(frozen=True)

    project_id: int
    entries: dict[str, LedgerEntry] = Field(default_factory=dict)

    def imported(self) -> dict[str, int]:
        """item_id -> task id of every imported item."""
        return {
            item_id: entry.task_id
            for item_id, entry in self.entries.items()
            if entry.status is LedgerStatus.IMPORTED and entry.task_id is not None
        }

    def pending(self) -> list[str]:
        """Item ids whose import may or may not have happened."""
        return sorted(
            item_id
            for item_id, entry in self.entries.items()
            if entry.status is LedgerStatus.PENDING
        )

    def with_pending(self, item_ids: Iterable[str], push_id: str, now: dt.datetime) -> PushLedger:
        """Mark items pending before their import call.

        Args:
            item_ids: the chunk about to be imported.
            push_id: the push run.
            now: the time to record.

        Returns:
            A new ledger.

        Raises:
            ValueError: an item is already imported (the plan should have left it out).
        """
        entries = dict(self.entries)
        for item_id in item_ids:
            old = entries.get(item_id)
            if old is not None and old.status is LedgerStatus.IMPORTED:
                raise ValueError(f"item {item_id}: already imported as task {old.task_id}")
            entries[item_id] = LedgerEntry(
                status=LedgerStatus.PENDING, push_id=push_id, updated_at=now
            )
        return PushLedger(project_id=self.project_id, entries=entries)

    def with_imported(
        self, task_ids: Mapping[str, int], push_id: str, now: dt.datetime
    ) -> PushLedger:
        """Record the task ids of imported (or found) items.

        Args:
            task_ids: item_id -> task id.
            push_id: the push run.
            now: the time to record.

        Returns:
            A new ledger.
        """
        entries = dict(self.entries)
        for item_id, task_id in task_ids.items():
            entries[item_id] = LedgerEntry(
                status=LedgerStatus.IMPORTED, task_id=int(task_id), push_id=push_id, updated_at=now
            )
        return PushLedger(project_id=self.project_id, entries=entries)


def task_items(ledger: PushLedger) -> dict[int, str]:
    """Task id -> item id of every imported item: which item each pushed task is.

    Args:
        ledger: the project's ledger.

    Returns:
        The mapping (a task's data in Label Studio is editable; this is not).
    """
    return {task_id: item_id for item_id, task_id in ledger.imported().items()}


class PushPlan(BaseModel):
    """What a push must do.

    Attributes:
        to_import: items to import, in selection order, each once.
        already_imported: item_id -> task id of selected items already in the project
            (from the ledger, or found in Label Studio for pending entries).
        recovered: the subset of ``already_imported`` found in Label Studio for
            pending entries (write them to the ledger as imported).
        repeated_in_selection: item ids the selection listed more than once.
        duplicated_in_label_studio: item_id -> task ids where Label Studio already
            holds several tasks for one item (made outside this protocol; reported).
    """

    model_config = ConfigDict(frozen=True)

    to_import: tuple[str, ...]
    already_imported: dict[str, int]
    recovered: dict[str, int]
    repeated_in_selection: tuple[str, ...]
    duplicated_in_label_studio: dict[str, tuple[int, ...]]


def items_to_verify(selected: Iterable[str], ledger: PushLedger) -> list[str]:
    """The selected items to look up in Label Studio before planning.

    Args:
        selected: the selection.
        ledger: the project's ledger.

    Returns:
        Pending items, sorted (look them up by ``data.item_id``).
    """
    pending = set(ledger.pending())
    return sorted({item_id for item_id in selected if item_id in pending})


def plan_push(
    selected: Sequence[str],
    ledger: PushLedger,
    found_in_label_studio: Mapping[str, Sequence[int]],
) -> PushPlan:
    """Decide which selected items still need import.

    Args:
        selected: the selection, in priority order (may repeat or overlap earlier pushes).
        ledger: the project's ledger.
        found_in_label_studio: item_id -> task ids found in Label Studio for (at
            least) the items of :func:`items_to_verify`. Items not looked up must
            be absent from it, not mapped to an empty list.

    Returns:
        The plan.
    """
    imported = ledger.imported()
    seen: set[str] = set()
    repeated: list[str] = []
    to_import: list[str] = []
    already: dict[str, int] = {}
    recovered: dict[str, int] = {}
    duplicated: dict[str, tuple[int, ...]] = {}
    for item_id in selected:
        if item_id in seen:
            repeated.append(item_id)
            continue
        seen.add(item_id)
        found = sorted(found_in_label_studio.get(item_id, ()))
        if len(found) > 1:
            duplicated[item_id] = tuple(found)
        if item_id in imported:
            already[item_id] = imported[item_id]
        elif found:
            already[item_id] = found[0]
            recovered[item_id] = found[0]
        else:
            to_import.append(item_id)
    return PushPlan(
        to_import=tuple(to_import),
        already_imported=already,
        recovered=recovered,
        repeated_in_selection=tuple(dict.fromkeys(repeated)),
        duplicated_in_label_studio=duplicated,
    )
