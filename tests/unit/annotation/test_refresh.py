import pytest

from annotation.models import parse_task
from annotation.refresh import plan_refresh, unlabelled_query


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


def test_query_selects_unannotated_tasks() -> None:
    (item,) = unlabelled_query()["filters"]["items"]
    assert (item["filter"], item["operator"], item["value"]) == (
        "filter:tasks:total_annotations",
        "equal",
        0,
    )
