"""Label Studio reads of the refresh flow: the project's config, its unlabelled tasks."""

from __future__ import annotations

import json

from label_studio_sdk import LabelStudio
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict

from annotation.config import ClassificationConfig, parse_label_config
from annotation.models import LSTask, parse_tasks
from annotation.refresh import unlabelled_query
from tasks.label_studio import PAGE_SIZE, READ_RETRIES, READ_RETRY_DELAYS


class ProjectConfig(BaseModel):
    """An existing project and its parsed label config."""

    model_config = ConfigDict(frozen=True)

    id: int
    title: str
    config: ClassificationConfig


@task(name="find-label-studio-project", cache_policy=NO_CACHE, retries=READ_RETRIES, retry_delay_seconds=READ_RETRY_DELAYS)
def find_project(client: LabelStudio, title: str, control_name: str | None = None) -> ProjectConfig:
    """The project titled exactly ``title`` (never creates one).

    Args:
        client: a Label Studio client.
        title: the project title.
        control_name: the Choices control to read, when the config has several.

    Returns:
        The project id, title and config.

    Raises:
        LookupError: no project or several carry the title.
    """
    matches = [p for p in client.projects.list(title=title) if p.title == title]
    if len(matches) != 1:
        raise LookupError(
            f"expected one Label Studio project titled {title!r}, found {len(matches)}"
            + (f" (ids {[p.id for p in matches]})" if matches else "")
        )
    project_id = int(matches[0].id)
    xml = client.projects.get(id=project_id).label_config or ""
    return ProjectConfig(id=project_id, title=title, config=parse_label_config(xml, control_name))


@task(name="list-unlabelled-tasks", cache_policy=NO_CACHE, retries=READ_RETRIES, retry_delay_seconds=READ_RETRY_DELAYS)
def list_unlabelled_tasks(client: LabelStudio, project_id: int) -> list[LSTask]:
    """Tasks without annotations, with their predictions' model versions.

    Args:
        client: a Label Studio client.
        project_id: the project.

    Returns:
        The parsed tasks (id, data, predictions).
    """
    pager = client.tasks.list(
        project=project_id,
        fields="all",
        include="id,data,predictions,model_version,created_at",
        query=json.dumps(unlabelled_query()),
        page_size=PAGE_SIZE,
    )
    tasks = parse_tasks(ls_task.model_dump(mode="json") for ls_task in pager)
    get_run_logger().info("Project %s: %d unlabelled tasks", project_id, len(tasks))
    return tasks
