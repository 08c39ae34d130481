"""Bodies no Label Studio sends: too big, too deep, not JSON. Each gets its status, none a traceback.

Every case is followed by a good webhook on the same app, which must still become an
event: one bad call never stops the receiver.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from webhooks.app import create_app
from webhooks.events import SECRET_HEADER, LabelloopEvent
from webhooks.limits import MAX_BODY_BYTES, MAX_DEPTH, too_deep

GOOD = next(
    call["body"]
    for call in json.loads(
        (Path(__file__).parents[1] / "fixtures" / "label_studio" / "webhook_payloads.json").read_text()
    )
    if call["body"]["action"] == "ANNOTATION_CREATED"
)
AUTH = {SECRET_HEADER: "s3cret", "content-type": "application/json"}
LIMIT = MAX_BODY_BYTES


@pytest.fixture
def emitted() -> list[LabelloopEvent]:
    return []


@pytest.fixture
def client(emitted: list[LabelloopEvent]) -> TestClient:
    def emit(event: LabelloopEvent) -> str:
        emitted.append(event)
        return f"event-{len(emitted)}"

    return TestClient(create_app(SecretStr("s3cret"), emit=emit))


def _still_works(client: TestClient, emitted: list[LabelloopEvent]) -> None:
    before = len(emitted)
    response = client.post("/label-studio", json=GOOD, headers={SECRET_HEADER: "s3cret"})
    assert response.status_code == 200 and len(emitted) == before + 1


def _deep(depth: int) -> bytes:
    return b'{"action": "ANNOTATION_CREATED", "x": ' + b"[" * depth + b"]" * depth + b"}"


BAD = [
    ("100k-deep arrays", _deep(100_000), 400),
    ("deep objects", b'{"a":' * 5_000 + b"1" + b"}" * 5_000, 400),
    ("one level too deep", _deep(MAX_DEPTH), 400),
    ("too big", json.dumps({**GOOD, "pad": "x" * LIMIT}).encode(), 413),
    ("not UTF-8", b'{"action": "\xff\xfe"}', 422),
    ("not JSON", b"{action: ANNOTATION_CREATED", 422),
    ("a number", b"1e999999", 422),
    ("empty", b"", 422),
]


@pytest.mark.parametrize(("case", "body", "status"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_body_gets_its_status_and_the_next_call_works(
    client: TestClient, emitted: list[LabelloopEvent], caplog: pytest.LogCaptureFixture,
    case: str, body: bytes, status: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    response = client.post("/label-studio", content=body, headers=AUTH)
    assert response.status_code == status
    assert len(response.content) < 200  # a short reason, never the body
    assert emitted == []
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    _still_works(client, emitted)


def test_a_declared_size_over_the_limit_is_refused_before_reading(client: TestClient) -> None:
    headers = {**AUTH, "content-length": str(LIMIT + 1)}
    response = client.post("/label-studio", content=b"{}" + b" " * (LIMIT - 1), headers=headers)
    assert response.status_code == 413


def test_without_the_secret_a_big_body_is_not_read(client: TestClient) -> None:
    response = client.post("/label-studio", content=_deep(100_000), headers={"content-type": "application/json"})
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_no_schema_and_no_docs_are_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_depth_ignores_brackets_inside_strings() -> None:
    text = json.dumps({"s": "[" * 1000, "t": '\\"{' * 500}).encode()
    assert not too_deep(text, 3)
    assert too_deep(b"[[[[", 3) and not too_deep(b"[[[]]]", 3)
