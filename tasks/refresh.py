"""Label Studio reads of the refresh flow: its unlabelled tasks."""

from __future__ import annotations

import json

from label_studio_sdk import LabelStudio
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from annotation.models import LSTask, parse_tasks
from annotation.refresh import unlabelled_query, unlabelled_tasks
from tasks.label_studio import PAGE_SIZE, READ_RETRIES, READ_RETRY_DELAYS

# `include` applies at every nesting level: `was_cancelled` names the annotations' field,
# `model_version` and `created_at` the predictions' ones.
UNLABELLED_INCLUDE = "id,data,created_at,predictions,model_version,annotations,was_cancelled"


@task(
    name="list-unlabelled-tasks",
    cache_policy=NO_CACHE,
    retries=READ_RETRIES,
    retry_delay_seconds=READ_RETRY_DELAYS,
)
def list_unlabelled_tasks(client: LabelStudio, project_id: int) -> list[LSTask]:
    """Tasks nobody has annotated, with their predictions' model versions.

    Decided from each task's own annotations (``annotation.refresh.is_unlabelled``),
    read in the same paged request, not from Label Studio's annotation counter.

    Args:
        client: a Label Studio client.
        project_id: the project.

    Returns:
        The parsed tasks (id, data, predictions, annotations: cancelled ones only).
    """
    read = read_tasks_with_annotations(client, project_id)
    tasks = unlabelled_tasks(read)
    get_run_logger().info(
        "Project %s: %d unlabelled tasks (%d read; %d hold an annotation)",
        project_id,
        len(tasks),
        len(read),
        len(read) - len(tasks),
    )
    return tasks


def read_tasks_with_annotations(client: LabelStudio, project_id: int) -> list[LSTask]:
    """The project's tasks that may be unlabelled, with what `is_unlabelled` decides on.

    One paged read filtered by Label Studio's counters (a superset of the unlabelled
    tasks), with each task's annotations (id, `was_cancelled`) and predictions' model
    versions. No logging or retries: usable outside a flow (the demo watches with it).

    Args:
        client: a Label Studio client.
        project_id: the project.

    Returns:
        The parsed tasks; `annotation.refresh.unlabelled_tasks` keeps the unlabelled ones.
    """
    pager = client.tasks.list(
        project=project_id,
        fields="all",
        include=UNLABELLED_INCLUDE,
        query=json.dumps(unlabelled_query()),
        page_size=PAGE_SIZE,
    )
    return parse_tasks(ls_task.model_dump(mode="json") for ls_task in pager)
