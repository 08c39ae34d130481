"""The receiver's decisions: who may call it and which event a webhook becomes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from webhooks.app import create_app
from webhooks.events import (
    LABELS_CHANGED,
    SECRET_HEADER,
    LabelloopEvent,
    WebhookCall,
    event_for,
    secret_matches,
)

# Shapes as Label Studio 1.23 sends them (annotation created: one annotation and its
# task; annotations deleted: ids only, as a list).
CREATED = {
    "action": "ANNOTATION_CREATED",
    "project": {"id": 7, "title": "digits", "label_config": "<View/>"},
    "annotation": {"id": 31, "task": 12, "result": [{"value": {"choices": ["3"]}}]},
    "task": {"id": 12, "data": {"item_id": "abc"}},
}
DELETED = {
    "action": "ANNOTATIONS_DELETED",
    "project": {"id": 7, "title": "digits"},
    "annotation": [{"id": 31}, {"id": 30}],
}


@pytest.mark.parametrize(
    ("given", "expected", "ok"),
    [("s3cret", "s3cret", True), ("s3cre", "s3cret", False), (None, "s3cret", False), ("", "s3cret", False)],
)
def test_secret_matches(given: str | None, expected: str, ok: bool) -> None:
    assert secret_matches(given, expected) is ok


def test_annotation_created_becomes_a_labels_changed_event() -> None:
    event = event_for(WebhookCall.model_validate(CREATED))
    assert event is not None
    assert event.event == LABELS_CHANGED
    assert event.resource["prefect.resource.id"] == "labelloop.project.digits"
    assert event.payload == {
        "action": "ANNOTATION_CREATED",
        "project_id": 7,
        "annotation_ids": [31],
        "task_ids": [12],
    }


def test_deleted_annotations_carry_their_ids() -> None:
    event = event_for(WebhookCall.model_validate(DELETED))
    assert event is not None and event.payload["annotation_ids"] == [30, 31]


@pytest.mark.parametrize("action", ["PROJECT_UPDATED", "TASKS_CREATED", "LABEL_LINK_CREATED"])
def test_other_actions_emit_nothing(action: str) -> None:
    assert event_for(WebhookCall.model_validate({**CREATED, "action": action})) is None


@pytest.fixture
def emitted() -> list[LabelloopEvent]:
    return []


@pytest.fixture
def client(emitted: list[LabelloopEvent]) -> TestClient:
    def emit(event: LabelloopEvent) -> str:
        emitted.append(event)
        return f"event-{len(emitted)}"

    return TestClient(create_app(SecretStr("s3cret"), emit=emit))


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}])
def test_calls_without_the_secret_are_refused(
    client: TestClient, emitted: list[LabelloopEvent], headers: dict[str, str]
) -> None:
    response = client.post("/label-studio", json=CREATED, headers=headers)
    assert response.status_code == 401
    assert "s3cret" not in response.text
    assert emitted == []


def test_a_good_call_emits_one_event(client: TestClient, emitted: list[LabelloopEvent]) -> None:
    response = client.post("/label-studio", json=CREATED, headers={SECRET_HEADER: "s3cret"})
    assert response.status_code == 200
    assert response.json() == {"status": "emitted", "action": "ANNOTATION_CREATED", "event_id": "event-1"}
    assert [e.resource["prefect.resource.id"] for e in emitted] == ["labelloop.project.digits"]


@pytest.mark.parametrize("body", [{"no": "action"}, {"action": "ANNOTATION_CREATED", "project": "x"}])
def test_a_body_that_is_not_a_webhook_is_rejected(
    client: TestClient, emitted: list[LabelloopEvent], body: dict[str, Any]
) -> None:
    response = client.post("/label-studio", json=body, headers={SECRET_HEADER: "s3cret"})
    assert response.status_code == 422
    assert emitted == []
