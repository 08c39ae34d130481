from __future__ import annotations

import datetime as dt

import pytest

from annotation.ledger import LedgerStatus, PushLedger, items_to_verify, plan_push

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _ledger(imported: dict[str, int] | None = None, pending: list[str] | None = None) -> PushLedger:
    ledger = PushLedger(project_id=1).with_imported(imported or {}, "old", NOW)
    return ledger.with_pending(pending or [], "crashed", NOW)


def _simulate(
    selection: list[str], ledger: PushLedger, label_studio: dict[str, list[int]]
) -> PushLedger:
    """Run the push protocol against a fake Label Studio holding item -> task ids."""
    found = {
        item: label_studio[item]
        for item in items_to_verify(selection, ledger)
        if item in label_studio
    }
    plan = plan_push(selection, ledger, found)
    ledger = ledger.with_imported(plan.recovered, "rerun", NOW).with_pending(
        plan.to_import, "rerun", NOW
    )
    next_id = max([t for ids in label_studio.values() for t in ids], default=0) + 1
    created = {}
    for offset, item in enumerate(plan.to_import):
        label_studio.setdefault(item, []).append(next_id + offset)
        created[item] = next_id + offset
    return ledger.with_imported(created, "rerun", NOW)


@pytest.mark.parametrize(
    ("crash_state", "description"),
    [
        (
            {"ledger_pending": ["c", "d"], "in_ls": {}},
            "crash after marking, before the import call",
        ),
        (
            {"ledger_pending": ["c", "d"], "in_ls": {"c": [3], "d": [4]}},
            "crash after the import, before recording",
        ),
    ],
)
def test_a_rerun_after_a_crash_leaves_exactly_one_task_per_item(crash_state, description) -> None:
    label_studio = {"a": [1], "b": [2], **crash_state["in_ls"]}
    ledger = _ledger(imported={"a": 1, "b": 2}, pending=crash_state["ledger_pending"])
    ledger = _simulate(["a", "b", "c", "d", "e"], ledger, label_studio)
    assert {item: len(ids) for item, ids in label_studio.items()} == {k: 1 for k in "abcde"}, (
        description
    )
    assert ledger.pending() == []
    assert ledger.imported() == {item: ids[0] for item, ids in label_studio.items()}


def test_overlapping_and_repeated_selections_import_each_item_once() -> None:
    label_studio: dict[str, list[int]] = {}
    ledger = _simulate(["a", "b", "c"], PushLedger(project_id=1), label_studio)
    plan = plan_push(["c", "d", "d", "a", "e"], ledger, {})
    assert plan.to_import == ("d", "e")
    assert plan.already_imported == {"c": 3, "a": 1}
    assert plan.repeated_in_selection == ("d",)


def test_only_pending_items_are_looked_up() -> None:
    ledger = _ledger(imported={"a": 1}, pending=["p", "q"])
    assert items_to_verify(["a", "p", "z", "p"], ledger) == ["p"]


def test_duplicates_already_in_label_studio_are_reported_not_multiplied() -> None:
    plan = plan_push(["p"], _ledger(pending=["p"]), {"p": [9, 4]})
    assert plan.to_import == () and plan.recovered == {"p": 4}
    assert plan.duplicated_in_label_studio == {"p": (4, 9)}


def test_marking_an_imported_item_pending_is_a_bug() -> None:
    with pytest.raises(ValueError, match="item a: already imported as task 1"):
        _ledger(imported={"a": 1}).with_pending(["a"], "x", NOW)


def test_ledger_round_trips_as_json() -> None:
    ledger = _ledger(imported={"a": 1}, pending=["p"])
    back = PushLedger.model_validate_json(ledger.model_dump_json())
    assert back == ledger and back.entries["p"].status is LedgerStatus.PENDING
