"""Which tasks get the new champion's predictions: pushed, not labelled, not up to date."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from annotation.models import LSTask


def unlabelled_query() -> dict[str, Any]:
    """The ``query`` for ``tasks.list`` that selects tasks nobody has annotated.

    Returns:
        A dict to send JSON-encoded as ``query=`` (``total_annotations`` equal to 0).
    """
    item = {
        "filter": "filter:tasks:total_annotations",
        "operator": "equal",
        "type": "Number",
        "value": 0,
    }
    return {"filters": {"conjunction": "and", "items": [item]}, "ordering": ["tasks:id"]}


class RefreshPlan(BaseModel):
    """Tasks whose predictions are replaced, and the ones left alone.

    Attributes:
        to_refresh: (task id, item id) pairs that need the new model's prediction.
        up_to_date: task ids that already show exactly this model version.
        no_item_id: task ids without an ``item_id`` (not made by labelloop).
    """

    model_config = ConfigDict(frozen=True)

    to_refresh: tuple[tuple[int, str], ...]
    up_to_date: tuple[int, ...]
    no_item_id: tuple[int, ...]


def plan_refresh(tasks: Iterable[LSTask], model_version: str) -> RefreshPlan:
    """Decide which unlabelled tasks need ``model_version``'s prediction.

    A task is up to date when it has predictions and all of them are from
    ``model_version`` (a rerun after a crash refreshes only what is left).

    Args:
        tasks: unlabelled tasks with their predictions' ``model_version``.
        model_version: the champion's version.

    Returns:
        The plan, in task order.
    """
    refresh: list[tuple[int, str]] = []
    current: list[int] = []
    orphans: list[int] = []
    for task in tasks:
        if not task.has_item_id:
            orphans.append(task.id)
        elif task.predictions and all(p.model_version == model_version for p in task.predictions):
            current.append(task.id)
        else:
            refresh.append((task.id, task.item_id))
    return RefreshPlan(
        to_refresh=tuple(refresh), up_to_date=tuple(current), no_item_id=tuple(orphans)
    )
