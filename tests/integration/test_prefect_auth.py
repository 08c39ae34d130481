"""Contract: the stack's Prefect server answers only a client holding its auth string.

Without it nobody on the host reads the blocks' secrets, creates runs or emits events;
with it Prefect's own clients (API and events websocket) work as before.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.events import Event, emit_event
from prefect.events.filters import EventFilter, EventResourceFilter
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from stack import control
from tests.conftest import Stack

pytestmark = pytest.mark.integration


def _api(stack: Stack) -> str:
    return stack.settings.prefect_api_url


def _basic(auth_string: str) -> httpx.BasicAuth:
    return httpx.BasicAuth(*auth_string.split(":", 1))


def test_a_call_without_the_auth_string_is_refused_and_one_with_it_works(stack: Stack) -> None:
    secrets = {"include_secrets": True}
    url = f"{_api(stack)}/block_documents/filter"
    token = stack.credentials.label_studio_token.get_secret_value()
    auth = stack.credentials.prefect_api_auth_string.get_secret_value()

    refused = [
        httpx.post(url, json=secrets),
        httpx.post(url, json=secrets, auth=_basic("labelloop:wrong")),
        httpx.post(url, json=secrets, auth=_basic(auth + "x")),
        httpx.post(url, json=secrets, headers={"Authorization": f"Bearer {auth}"}),
        httpx.post(f"{_api(stack)}/flows/", json={"name": "intruder"}),
    ]
    assert [r.status_code for r in refused] == [401] * len(refused)
    assert all(token not in r.text and auth not in r.text for r in refused)

    answered = httpx.post(url, json=secrets, auth=_basic(auth))
    assert answered.status_code == 200
    names = {(d["block_type"]["slug"], d["name"]) for d in answered.json()}
    assert ("labelloop-label-studio-credentials", control.LOCAL_BLOCK) in names

    # probes stay open; the UI asks for the login and talks to this server's API
    assert httpx.get(f"{_api(stack)}/health").status_code == 200
    ui = httpx.get(f"{_api(stack).removesuffix('/api')}/ui-settings").json()
    assert (ui["auth"], ui["api_url"]) == ("BASIC", _api(stack))


async def _emit_raw(url: str, token: str | None, event: Event) -> str:
    """Send one event on the events websocket as a client holding `token`: how it ended."""
    try:
        async with connect(url, subprotocols=["prefect"]) as socket:  # type: ignore[list-item]
            await socket.send(json.dumps({"type": "auth", "token": token}))
            await socket.send(event.model_dump_json())
            await socket.recv()
    except ConnectionClosed as closed:
        return f"closed {closed.rcvd.code if closed.rcvd else None}"
    except InvalidStatus as refused:
        return f"refused {refused.response.status_code}"
    return "accepted"


def test_only_a_client_with_the_auth_string_emits_events(
    stack: Stack, prefect_server: str, unique: str
) -> None:
    url = _api(stack).replace("http://", "ws://") + "/events/in"
    intruded = [
        Event(event="labelloop.intruder", resource={"prefect.resource.id": f"{unique}.{token}"})
        for token in ("none", "wrong")
    ]
    endings = [
        asyncio.run(_emit_raw(url, None, intruded[0])),
        asyncio.run(_emit_raw(url, "labelloop:wrong", intruded[1])),
    ]
    assert endings == ["closed 1008", "closed 1008"]

    sent = emit_event("labelloop.authorised", resource={"prefect.resource.id": f"{unique}.ok"})
    assert sent is not None
    event_filter = EventFilter(resource=EventResourceFilter(id_prefix=[unique]))
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            found = client.read_events(filter=event_filter, limit=50).events
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert [(e.event, e.id) for e in found] == [("labelloop.authorised", sent.id)]
