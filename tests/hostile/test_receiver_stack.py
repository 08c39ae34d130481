"""The stack's running receiver against bodies no Label Studio sends: a status each, no traceback.

After the bad calls a good webhook still becomes an event on the real Prefect server.
"""

from __future__ import annotations

import time

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

from tasks.events import ANNOTATIONS_CHANGED
from tests.conftest import Stack
from webhooks.events import SECRET_HEADER
from webhooks.limits import MAX_BODY_BYTES

pytestmark = pytest.mark.integration


def test_the_running_receiver_refuses_deep_and_big_bodies_without_a_traceback(
    stack: Stack, prefect_server: str, unique: str
) -> None:
    url = f"http://127.0.0.1:{stack.settings.receiver_port}"
    log = stack.settings.logs_dir / "receiver.log"
    logged = log.stat().st_size
    headers = {SECRET_HEADER: stack.credentials.webhook_secret.get_secret_value(), "content-type": "application/json"}

    deep = b'{"action": "ANNOTATION_CREATED", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert httpx.post(f"{url}/label-studio", content=deep, headers=headers).status_code == 400
    big = b'{"pad": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}'
    assert httpx.post(f"{url}/label-studio", content=big, headers=headers).status_code == 413
    assert httpx.get(f"{url}/openapi.json").status_code == 404

    good = {"action": "ANNOTATION_CREATED", "project": {"id": 3, "title": unique}, "annotation": {"id": 5}, "task": {"id": 9}}
    response = httpx.post(f"{url}/label-studio", json=good, headers=headers)
    assert response.status_code == 200 and response.json()["status"] == "emitted"
    selection = EventFilter(
        event=EventNameFilter(name=[ANNOTATIONS_CHANGED]),
        resource=EventResourceFilter(id=[f"labelloop.project.{unique}"]),
    )
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while not (events := client.read_events(filter=selection, limit=50).events) and time.monotonic() < deadline:
            time.sleep(0.5)
    assert [str(e.id) for e in events] == [response.json()["event_id"]]

    with log.open("rb") as handle:
        handle.seek(logged)
        written = handle.read().decode(errors="replace")
    assert "Traceback" not in written and "RecursionError" not in written
    assert "400 Bad Request" in written and "413" in written
