"""websockets' frames (the events websocket's auth message among them) never reach a log."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from stack.logs import WEBSOCKET_LOGGERS, hide_websocket_frames


@pytest.fixture
def root_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The root logger at DEBUG, websockets' loggers as websockets leaves them (at NOTSET,
    enabled), whatever an earlier test or Prefect's logging setup did to them."""
    loggers = [logging.getLogger(name) for name in WEBSOCKET_LOGGERS]
    saved = [(logger.level, logger.disabled, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
        logger.propagate = True
    caplog.set_level(logging.DEBUG)
    yield caplog
    for logger, (level, disabled, propagate) in zip(loggers, saved, strict=True):
        logger.setLevel(level)
        logger.disabled = disabled
        logger.propagate = propagate


def test_frames_are_hidden_even_with_the_root_logger_at_debug(
    root_at_debug: pytest.LogCaptureFixture,
) -> None:
    frame = """> TEXT '{"type":"auth","token":"labelloop:s3cret"}' [50 bytes]"""
    logging.getLogger("websockets.client").debug(frame)
    assert "s3cret" in root_at_debug.text  # what websockets does on its own

    root_at_debug.clear()
    hide_websocket_frames()
    for name in WEBSOCKET_LOGGERS:
        logging.getLogger(name).debug(frame)
        logging.getLogger(name).warning("connection lost")
    assert "s3cret" not in root_at_debug.text
    assert root_at_debug.text.count("connection lost") == 2
