"""The ASGI app that receives Label Studio webhooks and emits Prefect events.

Run it with `labelloop receiver` (the local stack starts it too). A webhook is a hint:
the label sync also runs on a schedule, so a lost call delays labels, never loses them.

It answers 401 without the shared secret (before reading the body), 413 for a body over
`max_body_bytes`, 400 for JSON nested deeper than `max_depth`, 422 for anything else
that is not a webhook body; it serves no API schema and never echoes a body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from fastapi import FastAPI, Header, HTTPException, Query, Request
from pydantic import SecretStr

from annotation.errors import LabelStudioDataError
from annotation.models import parse_webhook
from specs import is_dataset_name
from tasks.events import announce
from webhooks.events import SECRET_HEADER, LabelloopEvent, event_for, secret_matches
from webhooks.limits import MAX_BODY_BYTES, MAX_DEPTH, too_deep

logger = logging.getLogger("labelloop.webhooks")

Emitter = Callable[[LabelloopEvent], str | None]


def emit_to_prefect(event: LabelloopEvent) -> str | None:
    """Send the event to the Prefect API configured for this process."""
    return announce(event.event, event.resource, event.payload)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `max_bytes`.

    A declared Content-Length over the limit is refused before anything is read.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(status_code=413, detail=f"body over {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise HTTPException(status_code=413, detail=f"body over {max_bytes} bytes")
    return bytes(body)


def create_app(
    secret: SecretStr,
    emit: Emitter = emit_to_prefect,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_depth: int = MAX_DEPTH,
) -> FastAPI:
    """The receiver app.

    Args:
        secret: The shared secret Label Studio sends in the `X-Labelloop-Secret` header.
        emit: Sends an event; Prefect's `emit_event` unless a test passes another.
        max_body_bytes: The largest body read (larger: 413).
        max_depth: The deepest JSON nesting parsed (deeper: 400).

    Returns:
        A FastAPI app with `POST /label-studio[?dataset=NAME]` and `GET /health`, and
        no schema or docs.
    """
    app = FastAPI(
        title="labelloop webhook receiver", docs_url=None, redoc_url=None, openapi_url=None
    )

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "UP"}

    @app.post("/label-studio")
    async def label_studio(
        request: Request,
        x_labelloop_secret: str | None = Header(default=None, alias=SECRET_HEADER),
        dataset: str | None = Query(default=None),
    ) -> dict[str, str | None]:
        if not secret_matches(x_labelloop_secret, secret.get_secret_value()):
            raise HTTPException(status_code=401, detail=f"missing or wrong {SECRET_HEADER} header")
        if dataset is not None and not is_dataset_name(dataset):
            raise HTTPException(status_code=400, detail="dataset is not a data set name")
        raw = await read_body(request, max_body_bytes)
        if too_deep(raw, max_depth):
            raise HTTPException(status_code=400, detail=f"JSON nested deeper than {max_depth}")
        try:
            body = json.loads(raw)
            call = parse_webhook(body if isinstance(body, dict) else {})
        except (ValueError, LabelStudioDataError):
            # Never echo the body: it carries the project's sharing token.
            raise HTTPException(status_code=422, detail="not a Label Studio webhook body") from None
        event = event_for(call, dataset)
        if event is None:
            logger.info("ignored Label Studio action %s", call.action)
            return {"status": "ignored", "action": call.action, "event_id": None}
        event_id = emit(event)
        logger.info("%s for %s -> %s", call.action, event.resource["prefect.resource.id"], event_id)
        return {"status": "emitted", "action": call.action, "event_id": event_id}

    return app
