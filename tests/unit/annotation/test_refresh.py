import pytest

from annotation.models import parse_task, parse_tasks
from annotation.refresh import is_unlabelled, plan_refresh, unlabelled_query, unlabelled_tasks


def _task(task_id: int, versions: list[str], item_id: str | None = "i") -> dict:
    data = {"image": "x"} | ({"item_id": f"{item_id}{task_id}"} if item_id else {})
    return {
        "id": task_id,
        "data": data,
        "predictions": [
            {"id": n, "model_version": v, "result": []} for n, v in enumerate(versions)
        ],
    }


@pytest.mark.parametrize(
    ("versions", "refresh"),
    [
        ([], True),
        (["old"], True),
        (["new"], False),
        (["new", "old"], True),
        (["new", "new"], False),
    ],
)
def test_only_tasks_not_showing_the_version_are_refreshed(versions, refresh) -> None:
    plan = plan_refresh([parse_task(_task(1, versions))], "new")
    assert plan.to_refresh == (((1, "i1"),) if refresh else ())
    assert plan.up_to_date == (() if refresh else (1,))


def test_tasks_without_item_id_are_left_alone() -> None:
    plan = plan_refresh([parse_task(_task(7, ["old"], item_id=None))], "new")
    assert (plan.to_refresh, plan.no_item_id) == ((), (7,))


def test_the_query_only_narrows_the_read_without_trusting_the_counter() -> None:
    query = unlabelled_query()
    assert query["filters"]["conjunction"] == "or"
    assert [(i["filter"], i["operator"], i["value"]) for i in query["filters"]["items"]] == [
        ("filter:tasks:total_annotations", "equal", 0),
        ("filter:tasks:annotators", "empty", True),
    ]


@pytest.fixture
def read(load) -> list[dict]:
    """Read from Label Studio 1.23.2 by the refresh query, every task's counter at 0
    (tests/fixtures/label_studio/capture.py: capture_unlabelled_read)."""
    return load("tasks_unlabelled_read.json")


def test_the_captured_counters_say_zero_for_annotated_tasks(read) -> None:
    """The premise: the counter alone would call all five tasks unlabelled."""
    assert {task["data"]["item_id"]: task["total_annotations"] for task in read} == {
        "labelled": 0,
        "skipped": 0,
        "untouched": 0,
        "skipped-then-labelled": 0,
        "empty-submitted": 0,
    }


@pytest.mark.parametrize(
    ("item_id", "unlabelled"),
    [
        ("labelled", False),
        ("skipped", True),
        ("untouched", True),
        ("skipped-then-labelled", False),
        ("empty-submitted", False),
    ],
)
def test_unlabelled_is_decided_from_the_tasks_own_annotations(read, item_id, unlabelled) -> None:
    (task,) = [t for t in parse_tasks(read) if t.data["item_id"] == item_id]
    assert is_unlabelled(task) is unlabelled


def test_an_annotated_task_whose_counter_says_zero_gets_no_new_prediction(read) -> None:
    plan = plan_refresh(unlabelled_tasks(parse_tasks(read)), "new")
    assert sorted(item_id for _, item_id in plan.to_refresh) == ["skipped", "untouched"]
