"""Which projects a sync session syncs again, and when it stops."""

from __future__ import annotations

import datetime as dt

import pytest

from annotation.session import (
    ProjectChange,
    deferred_message,
    projects_to_sync,
    quiet_deadline,
    running_session,
    session_dataset,
)

T0 = dt.datetime(2026, 11, 22, 10, 0, 0, tzinfo=dt.UTC)


def change(event_id: str, project: str, seconds: float) -> ProjectChange:
    return ProjectChange(id=event_id, project=project, occurred=T0 + dt.timedelta(seconds=seconds))


def test_a_project_never_synced_is_due_whenever_its_change_occurred() -> None:
    assert projects_to_sync([change("e1", "texts", -3600)], {}) == ["texts"]


@pytest.mark.parametrize(
    ("occurred", "due"),
    [
        (-5.0, False),  # well before the last pass started: that pass read it
        (-0.5, True),  # within the slack: another clock stamped it, read it again
        (0.0, True),
        (7.0, True),  # after the pass started: not read yet
    ],
)
def test_a_change_is_due_unless_it_clearly_precedes_the_last_pass(
    occurred: float, due: bool
) -> None:
    got = projects_to_sync([change("e1", "texts", occurred)], {"texts": T0})
    assert got == (["texts"] if due else [])


def test_an_event_received_before_its_pass_started_is_covered_whatever_its_stamp() -> None:
    late_stamp = change("e1", "texts", 30)  # the receiver's clock runs ahead
    assert projects_to_sync([late_stamp], {"texts": T0}, covered={"e1"}) == []
    assert projects_to_sync([late_stamp], {"texts": T0}, covered={"other"}) == ["texts"]


def test_a_burst_names_each_project_once_sorted() -> None:
    burst = [
        change(f"e{i}", name, i) for i, name in enumerate(["texts", "digits", "texts", "iris"])
    ]
    assert projects_to_sync(burst, {"digits": T0 + dt.timedelta(seconds=60)}) == ["iris", "texts"]


def test_the_session_ends_a_quiet_spell_after_its_last_activity() -> None:
    assert quiet_deadline(100.0, 30.0) == 130.0
    assert quiet_deadline(100.0, 0.0) == 100.0


@pytest.mark.parametrize(
    ("parameters", "dataset"),
    [
        ({"params": {"dataset": "digits", "quiet_seconds": 30}}, "digits"),
        ({"params": {"dataset": {"name": "own-set", "schema_path": "x.y:Z"}}}, "own-set"),
        ({"params": {"quiet_seconds": 30}}, None),
        ({}, None),
        ({"params": "digits"}, None),
    ],
)
def test_the_data_set_of_a_session_run_is_read_from_its_parameters(
    parameters: dict[str, object], dataset: str | None
) -> None:
    assert session_dataset(parameters) == dataset


def _run(dataset: str, seconds: float) -> tuple[str, dt.datetime, dict[str, object]]:
    started = T0 + dt.timedelta(seconds=seconds)
    return f"run-{dataset}-{seconds:g}", started, {"params": {"dataset": dataset}}


def test_the_running_session_of_a_data_set_is_its_earliest() -> None:
    runs = [_run("iris", -60), _run("digits", 5), _run("digits", -20)]

    assert running_session("digits", runs) == ("run-digits--20", T0 - dt.timedelta(seconds=20))
    assert running_session("texts", runs) is None


def test_a_deferred_run_names_the_session_that_reads_its_changes() -> None:
    session = ("brave-fox", T0 - dt.timedelta(seconds=20))

    message = deferred_message("digits", session, 60)

    assert message == (
        "digits: the session started at 2026-11-22 09:59:40 UTC (brave-fox) reads these changes"
    )


def test_a_deferred_run_with_no_session_running_says_what_reads_its_changes() -> None:
    message = deferred_message("digits", None, 60)

    assert "no session of it is running" in message and "scheduled sync" in message
