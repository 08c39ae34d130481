from __future__ import annotations

import pytest

from annotation.errors import LabelStudioDataError
from annotation.models import parse_task, parse_tasks, parse_webhook


@pytest.mark.parametrize(
    ("name", "key", "count"),
    [
        ("tasks_snapshot_1.json", None, 10),
        ("tasks_snapshot_2.json", None, 10),
        ("tasks_delta_2.json", "tasks", 3),
        ("tasks_image.json", "tasks", 2),
        ("tasks_tabular.json", "tasks", 2),
    ],
)
def test_every_captured_task_list_parses_with_item_ids(
    load, name: str, key: str | None, count: int
) -> None:
    raw = load(name)
    tasks = parse_tasks(raw[key] if key else raw)
    assert len(tasks) == count
    assert len({task.item_id for task in tasks}) == count
    assert all(task.updated_at is not None and task.updated_at.tzinfo is not None for task in tasks)


def test_annotation_fields_survive_parsing(snapshot_1) -> None:
    tasks = {task.item_id: task for task in snapshot_1}
    cancelled, kept = tasks["item-003"].annotations
    assert cancelled.was_cancelled and cancelled.result == []
    assert not kept.was_cancelled
    assert kept.result[0].choices == ["neu"]
    assert kept.completed_by is not None and kept.completed_by != cancelled.completed_by
    assert kept.lead_time == 3.5


def test_shown_model_version_comes_from_predictions(load) -> None:
    tasks = parse_tasks(load("tasks_image.json")["tasks"])
    assert {task.shown_model_version for task in tasks} == {"v-image"}
    assert parse_task({"id": 1, "data": {"item_id": "a"}}).shown_model_version is None


def test_a_task_without_item_id_names_the_task() -> None:
    task = parse_task({"id": 42, "data": {"text": "made in the UI"}})
    assert not task.has_item_id
    with pytest.raises(LabelStudioDataError, match="task 42 has no 'item_id'"):
        _ = task.item_id


@pytest.mark.parametrize(
    "raw",
    [
        {"id": 7},
        {"id": 7, "data": {"item_id": "a"}, "annotations": [{"result": []}]},
    ],
)
def test_a_malformed_task_is_a_clear_error(raw: dict) -> None:
    with pytest.raises(LabelStudioDataError, match="task 7"):
        parse_task(raw)


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ([{"type": "choices", "from_name": 3}], "from_name is a int, not a string"),
        (["pos"], "a region is a str, not an object"),
        ("pos", "the result is a str, not a list"),
    ],
)
def test_a_malformed_region_keeps_its_task_readable(result: object, problem: str) -> None:
    task = parse_task({"id": 7, "data": {"item_id": "a"}, "annotations": [{"id": 1, "result": result}]})
    (region,) = task.annotations[0].result
    assert region.problem is not None and problem in region.problem


def test_captured_webhook_bodies_name_project_and_annotations(load) -> None:
    created, updated, deleted = (
        parse_webhook(call["body"]) for call in load("webhook_payloads.json")
    )
    assert [e.action for e in (created, updated, deleted)] == [
        "ANNOTATION_CREATED",
        "ANNOTATION_UPDATED",
        "ANNOTATIONS_DELETED",
    ]
    assert created.project_id == updated.project_id == deleted.project_id is not None
    assert created.task is not None and deleted.task is None
    assert created.annotation_ids == updated.annotation_ids == deleted.annotation_ids


@pytest.mark.parametrize("body", [{}, {"action": "ANNOTATION_CREATED", "task": {"id": "x"}}])
def test_a_body_that_is_not_a_webhook_is_a_clear_error(body: dict) -> None:
    with pytest.raises(LabelStudioDataError, match="not a Label Studio webhook body"):
        parse_webhook(body)
