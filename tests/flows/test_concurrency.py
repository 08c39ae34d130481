"""Concurrency per data set, on a real Prefect server (the harness's).

Two data sets' exclusive sections run at the same time; two runs of one data set never
do; and a flow waits for its data set's slot only, not for another data set's. The
tests assert the order in which things happened, never how long they took.
"""

from __future__ import annotations

import contextvars
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

import tasks.concurrency
from blocks import DataStore
from flows.cleanse import CleanseParams, cleanse
from tasks.concurrency import Stage, dataset_slot, slot_name

# Long enough for anything that is not blocked; a blocked step runs into it and the
# order of the journal shows it.
DEADLINE_S = 60.0


class Journal:
    """What happened, in order, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[str] = []
        self.signals: dict[str, threading.Event] = {}

    def signal(self, name: str) -> threading.Event:
        with self._lock:
            return self.signals.setdefault(name, threading.Event())

    def note(self, entry: str) -> None:
        with self._lock:
            self.entries.append(entry)
        self.signal(entry).set()

    def wait(self, entry: str, timeout: float = DEADLINE_S) -> bool:
        return self.signal(entry).wait(timeout)

    def before(self, first: str, second: str) -> bool:
        return self.entries.index(first) < self.entries.index(second)


JOURNAL = Journal()


@pytest.fixture(autouse=True)
def quick_orphan_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A waiting run looks for its slot's holder every second and frees a slot that no
    running run has held for 3 s (30 s and 150 s in production)."""
    monkeypatch.setattr(tasks.concurrency, "WAIT_STEP_SECONDS", 1.0)
    monkeypatch.setattr(tasks.concurrency, "ORPHAN_SECONDS", 3.0)


@flow(name="hold-dataset-slot")
def hold_slot(key: str, stage: Stage, dataset: str, until: str, hold_s: float) -> None:
    """Note `trying <key>`, take the slot, note `in <key>`, hold it until the journal
    has `until` (at most `hold_s` s), note `out <key>`, give it back."""
    JOURNAL.note(f"trying {key}")
    with dataset_slot(stage, dataset):
        JOURNAL.note(f"in {key}")
        JOURNAL.wait(until, hold_s)
        JOURNAL.note(f"out {key}")


def in_thread(target: Callable[[], object]) -> threading.Thread:
    """Run `target` in a thread that sees this thread's Prefect settings (the harness's)."""
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(target,), daemon=True)
    thread.start()
    return thread


def _names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"a{tag}", f"b{tag}"


def test_two_data_sets_hold_their_slots_at_the_same_time() -> None:
    a, b = _names()
    # A holds its slot until B is in its own: possible only if B does not wait for A.
    first = in_thread(lambda: hold_slot("A", "cleanse", a, "in B", DEADLINE_S))
    assert JOURNAL.wait("in A")
    second = in_thread(lambda: hold_slot("B", "cleanse", b, "never", 0))
    first.join(DEADLINE_S * 2)
    second.join(DEADLINE_S * 2)

    assert JOURNAL.before("in B", "out A"), JOURNAL.entries


def test_two_runs_of_one_data_set_take_turns() -> None:
    a, _ = _names()
    first = in_thread(lambda: hold_slot("A1", "push", a, "A1 may go", DEADLINE_S))
    assert JOURNAL.wait("in A1")
    second = in_thread(lambda: hold_slot("A2", "push", a, "A2 may go", 0))
    assert JOURNAL.wait("trying A2")
    # A1 keeps the slot a while after A2 asked for it, longer than a slot may stay taken
    # by no running run: A2 finds A1 holding it and must not get in meanwhile.
    JOURNAL.wait("in A2", 6.0)
    JOURNAL.note("A1 may go")
    first.join(DEADLINE_S * 2)
    second.join(DEADLINE_S * 2)

    assert JOURNAL.before("out A1", "in A2"), JOURNAL.entries


def test_a_cleanse_waits_for_its_own_data_sets_slot_only(tmp_path: Path) -> None:
    a, b = _names()
    store = DataStore(base_path=str(tmp_path / "store"))

    def run_cleanse(dataset: str) -> None:
        params = CleanseParams(dataset=dataset, schema_path="cleansing.schemas:IrisMeasurements")
        result = cleanse(params, store=store)
        assert result.message == f"{dataset}: 0 new batches"
        JOURNAL.note(f"cleansed {dataset}")

    holder = in_thread(lambda: hold_slot("H", "cleanse", a, "released", DEADLINE_S))
    assert JOURNAL.wait("in H")
    waiting = in_thread(lambda: run_cleanse(a))
    run_cleanse(b)  # another data set's cleanse does not wait
    JOURNAL.note("released")
    holder.join(DEADLINE_S * 2)
    waiting.join(DEADLINE_S * 2)

    assert JOURNAL.before(f"cleansed {b}", "out H"), JOURNAL.entries
    assert JOURNAL.before("out H", f"cleansed {a}"), JOURNAL.entries


def test_a_slot_whose_release_was_lost_is_freed_by_the_run_waiting_for_it() -> None:
    a, _ = _names()
    # the one slot taken, with no lease and no run holding it: a release that never
    # reached the server
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=slot_name("retrain", a), limit=1, active_slots=1)
        )
    waiting = in_thread(lambda: hold_slot("W", "retrain", a, "never", 0))
    waiting.join(DEADLINE_S)

    assert "in W" in JOURNAL.entries, JOURNAL.entries
