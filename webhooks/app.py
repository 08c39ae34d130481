"""The ASGI app that receives Label Studio webhooks and emits Prefect events.

Run it with `labelloop receiver` (the local stack starts it too). A webhook is a hint:
the label sync also runs on a schedule, so a lost call delays labels, never loses them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Header, HTTPException, Request
from pydantic import SecretStr

from annotation.errors import LabelStudioDataError
from annotation.models import parse_webhook
from tasks.events import announce
from webhooks.events import SECRET_HEADER, LabelloopEvent, event_for, secret_matches

logger = logging.getLogger("labelloop.webhooks")

Emitter = Callable[[LabelloopEvent], str | None]


def emit_to_prefect(event: LabelloopEvent) -> str | None:
    """Send the event to the Prefect API configured for this process."""
    return announce(event.event, event.resource, event.payload)


def create_app(secret: SecretStr, emit: Emitter = emit_to_prefect) -> FastAPI:
    """The receiver app.

    Args:
        secret: The shared secret Label Studio sends in the `X-Labelloop-Secret` header.
        emit: Sends an event; Prefect's `emit_event` unless a test passes another.

    Returns:
        A FastAPI app with `POST /label-studio` and `GET /health`.
    """
    app = FastAPI(title="labelloop webhook receiver", docs_url=None, redoc_url=None)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "UP"}

    @app.post("/label-studio")
    async def label_studio(
        request: Request,
        x_labelloop_secret: str | None = Header(default=None, alias=SECRET_HEADER),
    ) -> dict[str, str | None]:
        if not secret_matches(x_labelloop_secret, secret.get_secret_value()):
            raise HTTPException(status_code=401, detail=f"missing or wrong {SECRET_HEADER} header")
        try:
            body = await request.json()
            call = parse_webhook(body if isinstance(body, dict) else {})
        except (ValueError, LabelStudioDataError):
            # Never echo the body: it carries the project's sharing token.
            raise HTTPException(status_code=422, detail="not a Label Studio webhook body") from None
        event = event_for(call)
        if event is None:
            logger.info("ignored Label Studio action %s", call.action)
            return {"status": "ignored", "action": call.action, "event_id": None}
        event_id = emit(event)
        logger.info("%s for %s -> %s", call.action, event.resource["prefect.resource.id"], event_id)
        return {"status": "emitted", "action": call.action, "event_id": event_id}

    return app
