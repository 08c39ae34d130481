"""Thin Prefect tasks over the Label Studio SDK 2.x; decisions live in ``annotation``.

Every task takes a ``LabelStudio`` client (``LabelStudioCredentials.get_client()``)
and plain values. Reads retry; writes that are not idempotent (task and prediction
imports) do not: a rerun goes through the push ledger instead, which never imports
an item twice.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any, cast

from label_studio_sdk import ImportApiRequest, LabelStudio, PredictionRequest
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict

from annotation.config import (
    ClassificationConfig,
    LabelConfigUpdate,
    LabelSetDifference,
    parse_label_config,
    plan_label_config_update,
)
from annotation.models import LSTask, parse_tasks
from annotation.payloads import chunked
from annotation.review import REVIEW_VIEW_TITLE, review_update, review_view_data
from annotation.sync import item_ids_query, read_changed_tasks
from monitoring.review import ReviewRequest

# `include` is a flat field list that Label Studio (drf-flex-fields) applies at every
# nesting level: the annotation and prediction fields must be named as well, or
# annotations come back as bare {"id": ...}. Needs fields="all".
SYNC_INCLUDE = (
    "id,data,updated_at,created_at,annotations,predictions,"
    "result,completed_by,was_cancelled,lead_time,model_version,score"
)
PROJECT_INCLUDE = "id,title,label_config"
READ_RETRIES = 3
READ_RETRY_DELAYS: list[float] = [1, 5, 15]
PAGE_SIZE = 1000
ITEM_ID_LOOKUP_BATCH = 200  # the filter travels in the URL


class ProjectRef(BaseModel):
    """The project a data set labels into, after create-or-update.

    Attributes:
        id: the Label Studio project id.
        title: its stable title.
        created: whether this call created it.
        config: the config the project now holds.
        update: the label set decision (None when just created).
    """

    model_config = ConfigDict(frozen=True)

    id: int
    title: str
    created: bool
    config: ClassificationConfig
    update: LabelConfigUpdate | None = None


@task(
    name="ensure-label-studio-project",
    cache_policy=NO_CACHE,
    retries=READ_RETRIES,
    retry_delay_seconds=READ_RETRY_DELAYS,
)
def ensure_project(
    client: LabelStudio,
    title: str,
    desired: ClassificationConfig,
    allow_label_removal: bool = False,
) -> ProjectRef:
    """Create the project titled ``title`` or reuse it, updating its labels if the spec grew.

    A rerun never creates a second project. Safe to retry: the title is the key.

    Args:
        client: a Label Studio client.
        title: the stable project title (one project per data set).
        desired: the config generated from the spec or the user's XML.
        allow_label_removal: drop labels that the spec no longer has.

    Returns:
        The project reference.

    Raises:
        RuntimeError: several projects carry the title.
    """
    logger = get_run_logger()
    # `title=` filters by substring: keep exact matches only.
    projects: Iterable[Any] = client.projects.list(title=title)
    matches = [project for project in projects if project.title == title]
    if len(matches) > 1:
        raise RuntimeError(
            f"{len(matches)} Label Studio projects are titled {title!r}: ids {[p.id for p in matches]}"
        )
    if not matches:
        created = client.projects.create(title=title, label_config=desired.xml)
        if created.id is None:
            raise RuntimeError(f"Label Studio created project {title!r} without returning its id")
        logger.info("Created Label Studio project %s (%r)", created.id, title)
        return ProjectRef(id=created.id, title=title, created=True, config=desired)
    project_id = int(matches[0].id)
    current = parse_label_config(
        client.projects.get(id=project_id).label_config or "", desired.from_name
    )
    plan = plan_label_config_update(current, desired, allow_removal=allow_label_removal)
    if plan.needs_update:
        client.projects.update(id=project_id, label_config=plan.config.xml)
    difference = LabelSetDifference(
        missing=plan.added, extra=() if allow_label_removal else plan.retained
    )
    for line in difference.describe(title):
        logger.warning("Label set of Label Studio project %s: %s", project_id, line)
    if allow_label_removal and plan.removed:
        logger.warning(
            "Label set of Label Studio project %s: removed %s (the spec dropped them)",
            project_id,
            list(plan.removed),
        )
    return ProjectRef(id=project_id, title=title, created=False, config=plan.config, update=plan)


class ProjectConfig(BaseModel):
    """An existing project and its parsed label config."""

    model_config = ConfigDict(frozen=True)

    id: int
    title: str
    config: ClassificationConfig


@task(
    name="find-label-studio-project",
    cache_policy=NO_CACHE,
    retries=READ_RETRIES,
    retry_delay_seconds=READ_RETRY_DELAYS,
)
def find_project(
    client: LabelStudio, title: str, control_name: str | None = None
) -> ProjectConfig | None:
    """The project titled exactly ``title``, with its label config (never creates one).

    One request: the list is filtered by title and limited to id, title and label
    config, so Label Studio computes none of the per-project counters.

    Args:
        client: a Label Studio client.
        title: the project title.
        control_name: the Choices control to read, when the config has several.

    Returns:
        The project id, title and config; None when no project carries the title
        (nothing was pushed yet). :func:`require_project` turns None into an error.

    Raises:
        LookupError: several projects carry the title.
    """
    # `title=` filters by substring: keep exact matches only.
    projects: Iterable[Any] = client.projects.list(title=title, include=PROJECT_INCLUDE)
    matches = [project for project in projects if project.title == title]
    if not matches:
        return None
    if len(matches) > 1:
        raise LookupError(
            f"{len(matches)} Label Studio projects are titled {title!r}: "
            f"ids {[p.id for p in matches]}"
        )
    project = matches[0]
    return ProjectConfig(
        id=int(project.id),
        title=title,
        config=parse_label_config(project.label_config or "", control_name),
    )


def require_project(project: ProjectConfig | None, title: str) -> ProjectConfig:
    """The project :func:`find_project` found, or a clear error when there is none.

    Args:
        project: what :func:`find_project` returned.
        title: the title it looked for.

    Returns:
        The project.

    Raises:
        LookupError: no project carries the title.
    """
    if project is None:
        raise LookupError(f"no Label Studio project is titled {title!r}: push tasks first")
    return project


@task(name="import-tasks", cache_policy=NO_CACHE)
def import_tasks(
    client: LabelStudio, project_id: int, payloads: Sequence[dict[str, Any]]
) -> list[int]:
    """Import one chunk of task payloads in a single call.

    Not retried: a retry after a lost answer could import the chunk twice. The
    push ledger marks the chunk pending first and reconciles on the next run.

    Args:
        client: a Label Studio client.
        project_id: the project.
        payloads: ``annotation.build_tasks`` output (one chunk, thousands).

    Returns:
        The new task ids, in payload order.

    Raises:
        RuntimeError: Label Studio created a different number of tasks.
    """
    response = client.projects.import_tasks(
        id=project_id, request=cast(list[ImportApiRequest], list(payloads)), return_task_ids=True
    )
    # Community edition answers synchronously; `task_ids` is an extra field of the SDK model.
    task_ids = [int(task_id) for task_id in getattr(response, "task_ids", None) or []]
    if len(task_ids) != len(payloads):
        raise RuntimeError(
            f"project {project_id}: imported {len(payloads)} tasks, Label Studio returned {len(task_ids)} ids"
        )
    get_run_logger().info("Imported %d tasks into project %s", len(task_ids), project_id)
    return task_ids


@task(
    name="find-tasks-by-item-id",
    cache_policy=NO_CACHE,
    retries=READ_RETRIES,
    retry_delay_seconds=READ_RETRY_DELAYS,
)
def find_tasks_by_item_id(
    client: LabelStudio, project_id: int, item_ids: Sequence[str]
) -> dict[str, list[int]]:
    """Look up tasks by ``data.item_id`` (server-side ``in_list`` filter).

    Args:
        client: a Label Studio client.
        project_id: the project.
        item_ids: the items to look for (batched by 200 per request).

    Returns:
        item_id -> task ids for the items found (absent when not found).
    """
    found: dict[str, list[int]] = {}
    for batch in chunked(list(item_ids), ITEM_ID_LOOKUP_BATCH):
        pager: Any = client.tasks.list(
            project=project_id,
            include="id,data",
            query=json.dumps(item_ids_query(batch)),
            page_size=PAGE_SIZE,
        )
        for ls_task in pager:
            found.setdefault(str(ls_task.data["item_id"]), []).append(int(ls_task.id))
    return found


@task(name="import-predictions", cache_policy=NO_CACHE)
def import_predictions(
    client: LabelStudio, project_id: int, predictions: Sequence[dict[str, Any]]
) -> int:
    """Import prediction dicts in one call (``projects.import_predictions``).

    Args:
        client: a Label Studio client.
        project_id: the project.
        predictions: ``annotation.build_predictions`` output (validated already).

    Returns:
        The number of predictions Label Studio created.

    Raises:
        RuntimeError: Label Studio created a different number.
    """
    response = client.projects.import_predictions(
        id=project_id, request=cast(list[PredictionRequest], list(predictions))
    )
    created = int(response.created or 0)
    if created != len(predictions):
        raise RuntimeError(
            f"project {project_id}: sent {len(predictions)} predictions, {created} created"
        )
    get_run_logger().info("Imported %d predictions into project %s", created, project_id)
    return created


@task(
    name="delete-predictions",
    cache_policy=NO_CACHE,
    retries=READ_RETRIES,
    retry_delay_seconds=READ_RETRY_DELAYS,
)
def delete_predictions(client: LabelStudio, project_id: int, task_ids: Sequence[int]) -> None:
    """Delete every prediction of the given tasks (the Data Manager bulk action).

    Idempotent, so retried. Unlike ``predictions.delete`` per prediction, the bulk
    action does not bump the tasks' ``updated_at`` (the sync does not re-read them).

    Args:
        client: a Label Studio client.
        project_id: the project.
        task_ids: the tasks whose predictions go.
    """
    if not task_ids:
        return
    client.actions.create(
        id="delete_tasks_predictions",
        project=project_id,
        selected_items={"all": False, "included": [int(task_id) for task_id in task_ids]},
    )
    get_run_logger().info(
        "Deleted the predictions of %d tasks in project %s", len(task_ids), project_id
    )


@task(
    name="fetch-changed-tasks",
    cache_policy=NO_CACHE,
    retries=READ_RETRIES,
    retry_delay_seconds=READ_RETRY_DELAYS,
)
def fetch_changed_tasks(
    client: LabelStudio,
    project_id: int,
    watermark: dt.datetime | None,
    overlap_seconds: float = 30.0,
    page_size: int = PAGE_SIZE,
) -> list[LSTask]:
    """Read the tasks whose ``updated_at`` is past the watermark, with full annotations.

    Filtered on the server (``filter:tasks:updated_at`` past the watermark minus
    the overlap; the first sync reads annotated tasks only), ``include`` limited
    to the fields the label resolution needs, and paged by ``updated_at`` keyset
    so that annotators working during the read never make it skip a task.

    Args:
        client: a Label Studio client.
        project_id: the project.
        watermark: the last merged ``updated_at`` (None on the first sync).
        overlap_seconds: how far before the watermark to re-read.
        page_size: tasks per request.

    Returns:
        Each changed task once, oldest change first.
    """

    def fetch(query: dict[str, Any], all_pages: bool) -> list[LSTask]:
        pager: Any = client.tasks.list(
            project=project_id,
            fields="all",
            include=SYNC_INCLUDE,
            query=json.dumps(query),
            page=1,
            page_size=page_size,
            resolve_uri=False,  # only data.item_id is read: no storage URLs to sign
        )
        found = pager if all_pages else (pager.items or [])
        return parse_tasks(ls_task.model_dump(mode="json") for ls_task in found)

    tasks = read_changed_tasks(fetch, watermark, dt.timedelta(seconds=overlap_seconds), page_size)
    get_run_logger().info(
        "Project %s: %d tasks changed since %s", project_id, len(tasks), watermark
    )
    return tasks


@task(
    name="list-task-ids",
    cache_policy=NO_CACHE,
    retries=READ_RETRIES,
    retry_delay_seconds=READ_RETRY_DELAYS,
)
def list_task_ids(client: LabelStudio, project_id: int) -> list[int]:
    """Every task id of a project (to withdraw labels of deleted tasks).

    Slow on big projects (~10 s for 10,000 tasks here): run it on a slower
    schedule than the incremental sync.

    Args:
        client: a Label Studio client.
        project_id: the project.

    Returns:
        The task ids.
    """
    return [
        int(ls_task.id)
        for ls_task in cast(
            Iterable[Any], client.tasks.list(project=project_id, include="id", page_size=PAGE_SIZE)
        )
    ]


@task(
    name="ensure-label-studio-webhook",
    cache_policy=NO_CACHE,
    retries=READ_RETRIES,
    retry_delay_seconds=READ_RETRY_DELAYS,
)
def ensure_webhook(
    client: LabelStudio,
    project_id: int,
    url: str,
    secret_header: str,
    secret: str,
) -> int:
    """Create (or reuse) the project's webhook for annotation changes.

    Label Studio sends the configured headers with every call, so the receiver
    authenticates it by ``secret_header``. Delivery is once, inside the request,
    with no retry: the scheduled sync is the guarantee, the webhook a hint.

    Args:
        client: a Label Studio client.
        project_id: the project.
        url: the receiver's URL.
        secret_header: the header carrying the shared secret.
        secret: the shared secret (never logged).

    Returns:
        The webhook id.
    """
    actions = ["ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"]
    headers = {secret_header: secret}
    for hook in client.webhooks.list(project=str(project_id)):
        if hook.url == url and hook.project == project_id:
            client.webhooks.update(
                id=hook.id,
                url=url,
                headers=headers,
                actions=actions,
                send_payload=True,
                is_active=True,
            )
            return int(hook.id)
    hook = client.webhooks.create(
        url=url,
        project=project_id,
        actions=actions,
        headers=headers,
        send_payload=True,
        send_for_all_actions=False,
        is_active=True,
    )
    get_run_logger().info("Created webhook %s for project %s -> %s", hook.id, project_id, url)
    return int(hook.id)


@task(
    name="request-label-reviews",
    cache_policy=NO_CACHE,
    retries=READ_RETRIES,
    retry_delay_seconds=READ_RETRY_DELAYS,
)
def request_reviews(
    client: LabelStudio,
    project_id: int,
    requests: Sequence[ReviewRequest],
    extra_annotators: int = 1,
) -> list[ReviewRequest]:
    """Put disputed items back in the label stream for `extra_annotators` more people.

    Each task's ``overlap`` is raised above the people who voted on it, ``is_labeled``
    is cleared (Label Studio does not recompute it) and ``meta["labelloop_dispute"]``
    says why. Retried safely: a task whose meta already carries the same note is left
    as it is (see ``annotation.review.review_update``).

    Args:
        client: a Label Studio client.
        project_id: the project.
        requests: the planned requests (``monitoring.review.plan_reviews``).
        extra_annotators: how many more people should annotate each task.

    Returns:
        The requests whose task exists, with the overlap it now has; an item whose task
        was deleted is logged and left out.
    """
    logger = get_run_logger()
    by_item = {r.item_id: r for r in requests}
    current: dict[str, Any] = {}
    for batch in chunked(list(by_item), ITEM_ID_LOOKUP_BATCH):
        pager: Any = client.tasks.list(
            project=project_id,
            include="id,data,meta,overlap",
            query=json.dumps(item_ids_query(batch)),
            page_size=PAGE_SIZE,
        )
        for ls_task in pager:
            request = by_item.get(str(ls_task.data.get("item_id")))
            if request is not None and int(ls_task.id) == request.task_id:
                current[request.item_id] = ls_task
    sent: list[ReviewRequest] = []
    for item_id, request in by_item.items():
        ls_task = current.get(item_id)
        if ls_task is None:
            logger.warning(
                "Item %s: task %s is not in project %s; not sent for review",
                item_id,
                request.task_id,
                project_id,
            )
            continue
        note = {
            "labels_version": request.labels_version,
            "model_version": request.model_version,
            "label": request.label,
            "model_label": request.model_label,
            "model_probability": round(request.model_probability, 4),
            "requested_at": request.requested_at.isoformat(),
        }
        if request.reason != "disputed":  # a dispute's note stays as it always was
            note["reason"] = request.reason
        update = review_update(
            request.task_id,
            ls_task.overlap,
            ls_task.meta,
            request.annotators,
            extra_annotators,
            note,
        )
        overlap = int(ls_task.overlap or 1)
        if update is not None:
            client.tasks.update(
                id=str(update.task_id),
                overlap=update.overlap,
                is_labeled=update.is_labeled,
                meta=update.meta,
            )
            overlap = update.overlap
        sent.append(request.model_copy(update={"overlap": overlap}))
    logger.info(
        "Project %s: %d disputed tasks sent back for %d more annotator(s)",
        project_id,
        len(sent),
        extra_annotators,
    )
    return sent


@task(
    name="ensure-review-view",
    cache_policy=NO_CACHE,
    retries=READ_RETRIES,
    retry_delay_seconds=READ_RETRY_DELAYS,
)
def ensure_review_view(
    client: LabelStudio,
    project_id: int,
    waiting: Sequence[ReviewRequest],
    title: str = REVIEW_VIEW_TITLE,
) -> int:
    """Create or update the Data Manager tab listing the tasks waiting for review.

    Args:
        client: a Label Studio client.
        project_id: the project.
        waiting: the requests still waiting (``monitoring.review.waiting_for_review``);
            the tab lists exactly their tasks.
        title: the tab's title.

    Returns:
        The view id.
    """
    data = review_view_data([a for r in waiting for a in r.annotation_ids], title)
    for view in client.views.list(project=project_id):
        if (view.data or {}).get("title") == title:
            client.views.update(id=str(view.id), project=project_id, data=data)  # type: ignore[arg-type]
            return int(view.id)
    view = client.views.create(project=project_id, data=data)  # type: ignore[arg-type]
    get_run_logger().info("Created the Data Manager tab %r (view %s)", title, view.id)
    return int(view.id)
