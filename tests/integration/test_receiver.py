"""The stack's webhook receiver: a real Label Studio webhook becomes an event on the real Prefect server."""

from __future__ import annotations

import time

import httpx
import pytest
from label_studio_sdk import LabelStudio
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.schemas.events import ReceivedEvent

from tasks.events import ANNOTATIONS_CHANGED
from tests.conftest import Stack
from webhooks.events import SECRET_HEADER

pytestmark = pytest.mark.integration

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="label" toName="text"><Choice value="pos"/><Choice value="neg"/></Choices>
</View>"""


def _receiver_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.settings.receiver_port}/label-studio"


def _events_for(project: str, deadline_s: float = 30, count: int = 1) -> list[ReceivedEvent]:
    """Poll the Prefect server for the project's labels-changed events."""
    event_filter = EventFilter(
        event=EventNameFilter(name=[ANNOTATIONS_CHANGED]),
        resource=EventResourceFilter(id=[f"labelloop.project.{project}"]),
    )
    deadline = time.monotonic() + deadline_s
    with get_client(sync_client=True) as client:
        while True:
            events = client.read_events(filter=event_filter, limit=50).events  # the server refuses the default 100
            if len(events) >= count or time.monotonic() > deadline:
                return events
            time.sleep(0.5)


def test_receiver_refuses_calls_without_the_secret(stack: Stack, unique: str) -> None:
    body = {"action": "ANNOTATION_CREATED", "project": {"id": 1, "title": unique}, "annotation": {"id": 1, "task": 2}}
    assert httpx.post(_receiver_url(stack), json=body).status_code == 401
    assert httpx.post(_receiver_url(stack), json=body, headers={SECRET_HEADER: "nope"}).status_code == 401


def test_receiver_emits_the_event_with_the_secret(stack: Stack, prefect_server: str, unique: str) -> None:
    body = {"action": "ANNOTATION_CREATED", "project": {"id": 1, "title": unique}, "annotation": {"id": 5}, "task": {"id": 9}}
    secret = stack.credentials.webhook_secret.get_secret_value()
    response = httpx.post(_receiver_url(stack), json=body, headers={SECRET_HEADER: secret})
    assert response.status_code == 200 and response.json()["status"] == "emitted"
    events = _events_for(unique)
    assert [e.payload["task_ids"] for e in events] == [[9]]
    assert str(events[0].id) == response.json()["event_id"]


def test_label_studio_annotation_reaches_prefect_as_an_event(
    stack: Stack, prefect_server: str, ls: LabelStudio, unique: str
) -> None:
    # the server the receiver emits to takes only calls that carry the stack's auth string
    assert httpx.get(f"{prefect_server}/admin/version").status_code == 401
    project = ls.projects.create(title=unique, label_config=CONFIG)
    try:
        ls.webhooks.create(
            url=_receiver_url(stack),
            project=project.id,
            actions=["ANNOTATION_CREATED"],
            send_for_all_actions=False,
            send_payload=True,
            headers={SECRET_HEADER: stack.credentials.webhook_secret.get_secret_value()},
        )
        ls.projects.import_tasks(id=project.id, request=[{"text": "good", "item_id": f"{unique}-1"}])
        task = next(iter(ls.tasks.list(project=project.id)))
        annotation = ls.annotations.create(
            id=task.id,
            result=[{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["pos"]}}],
        )
        events = _events_for(unique)
        assert len(events) == 1
        assert events[0].payload["action"] == "ANNOTATION_CREATED"
        assert events[0].payload["annotation_ids"] == [annotation.id]
        assert events[0].payload["task_ids"] == [task.id]
        assert events[0].resource["labelloop.project.id"] == str(project.id)
    finally:
        ls.projects.delete(id=project.id)
