"""What the stack's processes keep out of their logs.

The `websockets` library logs every frame it sends or receives at DEBUG; the first frame
of Prefect's events websocket carries the Prefect API's auth string. So wherever that
string is held, websockets' frames are never logged, whatever level a user turns on.
"""

from __future__ import annotations

import logging

WEBSOCKET_LOGGERS = ("websockets.client", "websockets.server")


def hide_websocket_frames() -> None:
    """Raise websockets' client and server loggers to INFO (their frames are DEBUG)."""
    for name in WEBSOCKET_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(max(logging.INFO, logger.level))
