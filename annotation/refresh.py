"""Which tasks get the new champion's predictions: pushed, not labelled, not up to date."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from annotation.models import LSTask


def unlabelled_query() -> dict[str, Any]:
    """The ``query`` for ``tasks.list`` that narrows the read to tasks that may be unlabelled.

    Label Studio's ``total_annotations`` counter misses fresh annotations (1.23.2,
    measured: annotated tasks that still count 0), so it cannot decide. The query only
    narrows the read: tasks whose counter says 0 (that also keeps tasks whose only
    annotations are cancelled) or that hold no annotation at all (a join, whatever the
    counter says). :func:`is_unlabelled` decides from each task's own annotations.

    Returns:
        A dict to send JSON-encoded as ``query=``, ordered by task id.
    """
    items = [
        {
            "filter": "filter:tasks:total_annotations",
            "operator": "equal",
            "type": "Number",
            "value": 0,
        },
        {"filter": "filter:tasks:annotators", "operator": "empty", "type": "List", "value": True},
    ]
    return {"filters": {"conjunction": "or", "items": items}, "ordering": ["tasks:id"]}


def is_unlabelled(task: LSTask) -> bool:
    """Whether nobody has annotated the task: it holds no annotation that is not cancelled.

    A skip (a cancelled annotation) leaves a task unlabelled; any other annotation,
    even one whose counter Label Studio has not updated, makes it labelled.

    Args:
        task: a task read with its annotations' ``id`` and ``was_cancelled``.

    Returns:
        True when the task holds no annotation other than cancelled ones.
    """
    return all(annotation.was_cancelled for annotation in task.annotations)


def unlabelled_tasks(tasks: Iterable[LSTask]) -> list[LSTask]:
    """The tasks nobody has annotated (:func:`is_unlabelled`), in their order.

    Args:
        tasks: tasks read with their annotations.

    Returns:
        The unlabelled ones.
    """
    return [task for task in tasks if is_unlabelled(task)]


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
