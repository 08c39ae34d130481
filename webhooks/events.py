"""Pure translation of a Label Studio webhook call into a labelloop Prefect event."""

from __future__ import annotations

import hmac
from typing import Any

from pydantic import BaseModel, Field

from annotation.models import LSWebhookEvent
from specs import is_dataset_name
from tasks.events import ANNOTATIONS_CHANGED, project_resource

# Sent to Label Studio with every webhook it calls (`webhooks.create(headers=...)`).
SECRET_HEADER = "X-Labelloop-Secret"

# The actions after which the labels of a project may have changed.
LABEL_ACTIONS = frozenset(
    {"ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"}
)


class LabelloopEvent(BaseModel):
    """An event ready for `prefect.events.emit_event`."""

    event: str
    resource: dict[str, str]
    payload: dict[str, Any] = Field(default_factory=dict)


def secret_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of the header Label Studio sent with the shared secret."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def event_for(call: LSWebhookEvent, dataset: str | None = None) -> LabelloopEvent | None:
    """The event announcing that a project's labels changed, or None for other actions.

    The resource names the data set: the one the webhook's URL names (`?dataset=`, set
    by `labelloop dataset add`, so an adopted project's own title does not matter), else
    the project's title when it has the shape of a data set name; any other title
    (`this:s`, a path, free text) is never passed on, and the project's numeric id names
    it. The payload carries ids only: a webhook body holds the project's sharing token and
    is never passed on or logged.
    """
    if call.action not in LABEL_ACTIONS or call.project_id is None:
        return None
    title = call.project_title
    if dataset is not None:
        name = dataset
    else:
        name = title if is_dataset_name(title) else str(call.project_id)
    return LabelloopEvent(
        event=ANNOTATIONS_CHANGED,
        resource={**project_resource(name), "labelloop.project.id": str(call.project_id)},
        payload={
            "action": call.action,
            "project_id": call.project_id,
            "annotation_ids": sorted(call.annotation_ids),
            "task_ids": [call.task.id] if call.task else [],
        },
    )
