"""labelloop's events: names and resources in one place (a public interface: keep them stable).

Every resource carries `prefect.resource.name`, so a trigger template can pass
`{{ event.resource.name }}` (the data set, project or model name) to the next flow.
"""

from __future__ import annotations

from typing import Any

from prefect.events import emit_event

from monitoring import decisions

BATCH_COLLECTED = "labelloop.batch.collected"
BATCH_CLEANSED = "labelloop.batch.cleansed"
TASKS_PUSHED = "labelloop.tasks.pushed"
ANNOTATIONS_CHANGED = "labelloop.annotations.changed"
LABELS_READY = "labelloop.labels.ready"
LABELS_UPDATED = "labelloop.labels.updated"
MODEL_PROMOTED = "labelloop.model.promoted"
MODEL_REJECTED = "labelloop.model.rejected"  # trained, but the gate kept the champion
ANNOTATOR_FLAGGED = "labelloop.annotator.flagged"  # clearly below the team's accuracy
# Monitoring's events are named where they are decided (pure code, no prefect).
MODEL_DEGRADED = decisions.MODEL_DEGRADED
DATA_DRIFTED = decisions.DATA_DRIFTED


def dataset_resource(name: str) -> dict[str, str]:
    """The resource of a data set: `labelloop.dataset.<name>`."""
    return {"prefect.resource.id": f"labelloop.dataset.{name}", "prefect.resource.name": name}


def project_resource(name: str) -> dict[str, str]:
    """The resource of a Label Studio project: `labelloop.project.<name>`."""
    return {"prefect.resource.id": f"labelloop.project.{name}", "prefect.resource.name": name}


def model_resource(name: str) -> dict[str, str]:
    """The resource of a model in the registry: `labelloop.model.<name>`."""
    return {"prefect.resource.id": f"labelloop.model.{name}", "prefect.resource.name": name}


def announce(event: str, resource: dict[str, str], payload: dict[str, Any]) -> str | None:
    """Emit the event to the configured Prefect API; returns its id (None when events are off)."""
    sent = emit_event(event=event, resource=resource, payload=payload)
    return str(sent.id) if sent is not None else None
