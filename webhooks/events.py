"""Pure translation of a Label Studio webhook call into a labelloop Prefect event."""

from __future__ import annotations

import hmac
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Sent to Label Studio with every webhook it calls (`webhooks.create(headers=...)`).
SECRET_HEADER = "X-Labelloop-Secret"
LABELS_CHANGED = "labelloop.annotations.changed"

# The actions after which the labels of a project may have changed.
LABEL_ACTIONS = frozenset(
    {"ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"}
)


class _Ref(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    title: str | None = None
    task: int | None = None


class WebhookCall(BaseModel):
    """The part of a Label Studio webhook body that labelloop reads."""

    model_config = ConfigDict(extra="ignore")

    action: str
    project: _Ref | None = None
    annotation: _Ref | list[_Ref] | None = None
    task: _Ref | list[_Ref] | None = None


class LabelloopEvent(BaseModel):
    """An event ready for `prefect.events.emit_event`."""

    event: str
    resource: dict[str, str]
    payload: dict[str, Any] = Field(default_factory=dict)


def secret_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of the header Label Studio sent with the shared secret."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _as_list(refs: _Ref | list[_Ref] | None) -> list[_Ref]:
    if refs is None:
        return []
    return refs if isinstance(refs, list) else [refs]


def event_for(call: WebhookCall) -> LabelloopEvent | None:
    """The event announcing that a project's labels changed, or None for other actions.

    The resource id names the project by its title (labelloop's stable project name),
    falling back to its numeric id.
    """
    if call.action not in LABEL_ACTIONS or call.project is None:
        return None
    annotations = _as_list(call.annotation)
    task_ids = {ref.id for ref in _as_list(call.task)} | {
        ref.task for ref in annotations if ref.task is not None
    }
    name = call.project.title or str(call.project.id)
    return LabelloopEvent(
        event=LABELS_CHANGED,
        resource={
            "prefect.resource.id": f"labelloop.project.{name}",
            "prefect.resource.name": name,
            "labelloop.project.id": str(call.project.id),
        },
        payload={
            "action": call.action,
            "project_id": call.project.id,
            "annotation_ids": sorted(ref.id for ref in annotations),
            "task_ids": sorted(task_ids),
        },
    )
