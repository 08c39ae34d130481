"""The receiver's decisions: who may call it and which event a webhook becomes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from webhooks.app import create_app
from annotation.models import parse_webhook
from tasks.events import ANNOTATIONS_CHANGED
from webhooks.events import SECRET_HEADER, LabelloopEvent, event_for, secret_matches

# Bodies captured from Label Studio 1.23 (tests/fixtures/label_studio/capture.py).
_CAPTURED = {
    call["body"]["action"]: call["body"]
    for call in json.loads(
        (Path(__file__).parents[2] / "fixtures" / "label_studio" / "webhook_payloads.json").read_text()
    )
}
CREATED = _CAPTURED["ANNOTATION_CREATED"]
DELETED = _CAPTURED["ANNOTATIONS_DELETED"]


@pytest.mark.parametrize(
    ("given", "expected", "ok"),
    [("s3cret", "s3cret", True), ("s3cre", "s3cret", False), (None, "s3cret", False), ("", "s3cret", False)],
)
def test_secret_matches(given: str | None, expected: str, ok: bool) -> None:
    assert secret_matches(given, expected) is ok


def test_annotation_created_becomes_a_labels_changed_event() -> None:
    event = event_for(parse_webhook(CREATED))
    assert event is not None
    assert event.event == ANNOTATIONS_CHANGED
    assert event.resource["prefect.resource.id"] == f"labelloop.project.{CREATED['project']['title']}"
    assert event.payload == {
        "action": "ANNOTATION_CREATED",
        "project_id": CREATED["project"]["id"],
        "annotation_ids": [CREATED["annotation"]["id"]],
        "task_ids": [CREATED["task"]["id"]],
    }


def test_deleted_annotations_carry_their_ids_and_no_secret() -> None:
    event = event_for(parse_webhook(DELETED))
    assert event is not None
    assert event.payload["annotation_ids"] == sorted(a["id"] for a in DELETED["annotations"])
    assert event.payload["task_ids"] == []
    assert "token" not in json.dumps(event.model_dump())


@pytest.mark.parametrize("action", ["PROJECT_UPDATED", "TASKS_CREATED", "LABEL_LINK_CREATED"])
def test_other_actions_emit_nothing(action: str) -> None:
    assert event_for(parse_webhook({**CREATED, "action": action})) is None


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
    assert [e.resource["prefect.resource.id"] for e in emitted] == [
        f"labelloop.project.{CREATED['project']['title']}"
    ]


@pytest.mark.parametrize("body", [{"no": "action"}, {"action": "ANNOTATION_CREATED", "project": "x"}, [1, 2]])
def test_a_body_that_is_not_a_webhook_is_rejected(
    client: TestClient, emitted: list[LabelloopEvent], body: Any
) -> None:
    response = client.post("/label-studio", json=body, headers={SECRET_HEADER: "s3cret"})
    assert response.status_code == 422
    assert emitted == []


def test_the_webhook_url_names_the_data_set_whatever_the_projects_title(
    client: TestClient, emitted: list[LabelloopEvent]
) -> None:
    adopted = {**CREATED, "project": {**CREATED["project"], "title": "Wine tasting (2026)"}}
    response = client.post(
        "/label-studio?dataset=wine", json=adopted, headers={SECRET_HEADER: "s3cret"}
    )
    assert response.status_code == 200
    assert [e.resource["prefect.resource.name"] for e in emitted] == ["wine"]
    assert emitted[0].resource["labelloop.project.id"] == str(adopted["project"]["id"])


@pytest.mark.parametrize("dataset", ["this:s", "../x", "Wine", "a" * 61, ""])
def test_a_webhook_url_naming_no_data_set_is_refused(
    client: TestClient, emitted: list[LabelloopEvent], dataset: str
) -> None:
    response = client.post(
        "/label-studio", params={"dataset": dataset}, json=CREATED, headers={SECRET_HEADER: "s3cret"}
    )
    assert response.status_code == 400
    assert emitted == []
