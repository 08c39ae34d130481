"""Label Studio JSON an annotator or an API user can break, resolved without losing a label.

Each case starts from tasks captured from a real Label Studio export
(tests/fixtures/label_studio/tasks_snapshot_1.json), breaks one thing, and checks what
must happen to the broken annotation or task and that every other item of the same
resolution keeps exactly the label it has without the break.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from annotation.config import ClassificationConfig, parse_label_config
from annotation.labels import IgnoreReason, LabelResolution, SkipReason, resolve_labels
from annotation.models import parse_tasks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "label_studio"
RAW: list[dict[str, Any]] = json.loads((FIXTURES / "tasks_snapshot_1.json").read_text())
CONFIG: ClassificationConfig = parse_label_config(
    json.loads((FIXTURES / "project_text.json").read_text())["label_config"]
)
# What the push ledger recorded for the captured project: task id -> item id.
PUSHED = {int(task["id"]): task["data"]["item_id"] for task in RAW}


def _resolve(raw: list[dict[str, Any]], pushed: dict[int, str] | None = PUSHED) -> LabelResolution:
    return resolve_labels(parse_tasks(raw), CONFIG, pushed=pushed)


def _labels(resolution: LabelResolution) -> dict[str, tuple[str, dict[str, int]]]:
    return {label.item_id: (label.label, label.votes) for label in resolution.labels}


BASELINE = _labels(_resolve(RAW))


def _broken(task_id: int, annotation_id: int, change: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    raw = copy.deepcopy(RAW)
    (task,) = [t for t in raw if t["id"] == task_id]
    (annotation,) = [a for a in task["annotations"] if a["id"] == annotation_id]
    change(annotation)
    return raw


def _set_value(value: Any) -> Callable[[dict[str, Any]], None]:
    def change(annotation: dict[str, Any]) -> None:
        annotation["result"][0]["value"] = value

    return change


def _set_region(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(annotation: dict[str, Any]) -> None:
        annotation["result"][0][key] = value

    return change


def _set_result(value: Any) -> Callable[[dict[str, Any]], None]:
    def change(annotation: dict[str, Any]) -> None:
        annotation["result"] = value

    return change


# (case, change to annotation 36 of task 6 = item-000, words the skip's detail names)
MALFORMED = [
    ("choices as a string", _set_value({"choices": "pos"}), "choices are a str, not a list"),
    ("choices missing", _set_value({"text": ["pos"]}), "choices are a NoneType, not a list"),
    ("choices not strings", _set_value({"choices": [1]}), "not all strings"),
    ("value as a string", _set_value("pos"), "value is a str, not an object"),
    ("wrong from_name", _set_region("from_name", "mood"), "region of 'mood', not of the config's Choices"),
    ("wrong type", _set_region("type", "textarea"), "'textarea' region"),
    ("from_name a number", _set_region("from_name", 5), "from_name is a int"),
    ("region a string", _set_result(["pos"]), "a region is a str"),
    ("result an object", _set_result({"choices": ["pos"]}), "the result is a dict, not a list"),
]


@pytest.mark.parametrize(("case", "change", "detail"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_result_is_a_recorded_skip_not_an_empty_one(
    case: str, change: Callable[[dict[str, Any]], None], detail: str
) -> None:
    resolution = _resolve(_broken(6, 36, change))

    (skip,) = [s for s in resolution.skipped if s.annotation_id == 36]
    assert skip.reason is SkipReason.MALFORMED_RESULT
    assert detail in skip.detail and skip.task_id == 6 and skip.item_id == "item-000"
    assert resolution.ignored.get(IgnoreReason.EMPTY.value, 0) == 1  # item-004's real empty result only
    # The two sound votes on the same task still count; every other item is untouched.
    labels = _labels(resolution)
    assert labels["item-000"] == ("pos", {"pos": 2})
    assert {k: v for k, v in labels.items() if k != "item-000"} == {
        k: v for k, v in BASELINE.items() if k != "item-000"
    }


def test_an_edited_item_id_labels_no_other_item() -> None:
    """Task 11 (pushed for item-005) edited to say item-000, then annotated 'neg'."""
    raw = copy.deepcopy(RAW)
    (task,) = [t for t in raw if t["id"] == 11]
    task["data"]["item_id"] = "item-000"

    resolution = _resolve(raw)

    labels = _labels(resolution)
    assert labels["item-000"] == BASELINE["item-000"] == ("pos", {"pos": 3})  # only its own votes
    (skip,) = [s for s in resolution.skipped if s.task_id == 11]
    assert skip.reason is SkipReason.ITEM_ID_CHANGED and skip.item_id == "item-005"
    assert "task 11 was pushed for item 'item-005' but its data now says item_id 'item-000'" in skip.detail
    assert "item-005" not in labels and "item-005" not in resolution.seen_items  # kept as it was
    assert {k: v for k, v in labels.items() if k != "item-005"} == {
        k: v for k, v in BASELINE.items() if k != "item-005"
    }


def test_an_edited_item_id_without_annotations_is_still_reported() -> None:
    raw = copy.deepcopy(RAW)
    (task,) = [t for t in raw if t["id"] == 15]
    task["data"]["item_id"] = "item-000"
    (skip,) = [s for s in _resolve(raw).skipped if s.task_id == 15]
    assert skip.reason is SkipReason.ITEM_ID_CHANGED and skip.annotation_id is None


@pytest.mark.parametrize("value", [None, "", 0, ["item-005"], {"item": "item-005"}])
def test_an_item_id_removed_or_retyped_labels_nothing(value: Any) -> None:
    raw = copy.deepcopy(RAW)
    (task,) = [t for t in raw if t["id"] == 11]
    task["data"]["item_id"] = value
    resolution = _resolve(raw)
    assert [s.reason for s in resolution.skipped if s.task_id == 11] == [SkipReason.ITEM_ID_CHANGED]
    assert "item-005" not in _labels(resolution)


def test_a_task_made_outside_the_push_cannot_claim_a_pushed_item() -> None:
    raw = copy.deepcopy(RAW)
    intruder = copy.deepcopy(next(t for t in raw if t["id"] == 12))  # votes 'neg'
    intruder["id"] = 99
    intruder["data"]["item_id"] = "item-000"
    intruder["annotations"][0]["id"] = 990
    resolution = _resolve([*raw, intruder])
    (skip,) = [s for s in resolution.skipped if s.task_id == 99]
    assert skip.reason is SkipReason.ITEM_CLAIMED and "pushed as task 6" in skip.detail
    assert _labels(resolution) == BASELINE


def test_a_task_made_outside_the_push_labels_an_item_nobody_pushed() -> None:
    raw = copy.deepcopy(RAW)
    extra = copy.deepcopy(next(t for t in raw if t["id"] == 12))
    extra["id"], extra["data"]["item_id"] = 98, "item-new"
    labels = _labels(_resolve([*raw, extra]))
    assert labels["item-new"] == ("neg", {"neg": 1})
    assert {k: v for k, v in labels.items() if k != "item-new"} == BASELINE


def test_a_report_cannot_be_broken_by_task_data() -> None:
    raw = copy.deepcopy(RAW)
    (task,) = [t for t in raw if t["id"] == 11]
    task["data"]["item_id"] = "x | y\n" + "z" * 500
    (skip,) = [s for s in _resolve(raw).skipped if s.task_id == 11]
    assert "\n" not in skip.detail and " | " not in skip.detail and len(skip.detail) < 300


def test_annotation_json_cannot_mark_a_sound_region_as_broken() -> None:
    raw = _broken(6, 36, _set_region("problem", "made up"))
    assert _labels(_resolve(raw)) == BASELINE
