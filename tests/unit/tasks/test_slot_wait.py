"""When a run waiting for its data set's slot looks for the holder, and when it decides
the slot was never given back."""

from __future__ import annotations

from uuid import uuid4

from tasks.concurrency import ORPHAN_SECONDS, WAIT_STEP_SECONDS, RunningRun, SlotWait


def _run(name: str) -> RunningRun:
    return RunningRun(id=uuid4(), name=name, started=None, parameters={})


def test_a_wait_looks_at_once_then_every_step() -> None:
    wait = SlotWait()
    assert wait.due(0.0)
    wait.saw([_run("calm-fox")], 0.0)
    assert not wait.due(WAIT_STEP_SECONDS - 1)
    assert wait.due(WAIT_STEP_SECONDS)


def test_a_slot_held_by_a_running_run_is_never_orphaned() -> None:
    wait = SlotWait()
    now = 0.0
    while now < 10 * ORPHAN_SECONDS:
        assert wait.saw([_run("calm-fox")], now).startswith("held by calm-fox")
        assert not wait.orphaned(now)
        now += WAIT_STEP_SECONDS


def test_a_slot_is_orphaned_after_no_run_held_it_for_the_whole_span() -> None:
    wait = SlotWait()
    wait.saw([], 0.0)
    assert not wait.orphaned(ORPHAN_SECONDS - 1)
    wait.saw([_run("calm-fox")], ORPHAN_SECONDS - 1)  # a holder showed up: start again
    wait.saw([], ORPHAN_SECONDS)
    assert not wait.orphaned(2 * ORPHAN_SECONDS - 2)
    assert wait.orphaned(2 * ORPHAN_SECONDS)
    assert "no running run holds it" in wait.saw([], 2 * ORPHAN_SECONDS)
