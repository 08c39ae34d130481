"""Secrets of the stack never reach a log, a flow run's logs or an error message."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from label_studio_sdk.core.api_error import ApiError
from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.context import FlowRunContext

from blocks import DataStore, LabelStudioCredentials
from stack.control import LOCAL_BLOCK, LOCAL_S3_BLOCK
from tests.conftest import Stack

pytestmark = pytest.mark.integration


@flow(name="uses-stack-blocks")
def uses_stack_blocks(unique: str) -> str:
    logger = get_run_logger()
    credentials = LabelStudioCredentials.load(LOCAL_BLOCK)
    store = DataStore.load(LOCAL_S3_BLOCK)
    logger.info("loaded blocks %r and %r", credentials, store)
    projects = list(credentials.get_client().projects.list())
    store.write_bytes(f"tests/{unique}/probe.txt", b"probe")
    logger.info("label studio at %s has %d projects; store %s", credentials.url, len(projects), store.describe())
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None
    return str(context.flow_run.id)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def every_log_line() -> Iterator[list[str]]:
    """Every record at DEBUG from the root logger and Prefect's (which do not propagate)."""
    handler = _Collect()
    loggers = [logging.getLogger(), logging.getLogger("prefect")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def _secrets(stack: Stack) -> list[str]:
    return [
        stack.credentials.label_studio_token.get_secret_value(),
        stack.credentials.label_studio_password.get_secret_value(),
        stack.credentials.s3_secret_access_key.get_secret_value(),
    ]


def _flow_run_messages(flow_run_id: str, expect: str, deadline_s: float = 30) -> str:
    """The flow run's logs as stored on the server (they are shipped in batches)."""
    deadline = time.monotonic() + deadline_s
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
            messages = "\n".join(log.message for log in logs)
            if expect in messages or time.monotonic() > deadline:
                return messages
            time.sleep(0.5)


def test_flow_logs_hold_no_secret(
    stack: Stack, prefect_server: str, unique: str, every_log_line: list[str]
) -> None:
    flow_run_id = uses_stack_blocks(unique)
    stored = _flow_run_messages(flow_run_id, expect="projects; store")
    assert "loaded blocks" in stored and "projects; store s3://" in stored
    local = "\n".join(every_log_line)
    assert "loaded blocks" in local and len(every_log_line) > 20
    for secret in _secrets(stack):
        assert secret not in stored
        assert secret not in local


def test_rejected_token_error_does_not_echo_it(stack: Stack) -> None:
    wrong = "f" * 40
    client = LabelStudioCredentials(url=stack.settings.label_studio_url, api_key=wrong).get_client()
    with pytest.raises(ApiError) as caught:
        list(client.projects.list())
    assert caught.value.status_code == 401
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)


def test_stack_logs_hold_no_secret(stack: Stack) -> None:
    log_files = sorted(stack.settings.logs_dir.glob("*.log"))
    assert {p.name for p in log_files} >= {"prefect.log", "label-studio.log", "s3.log"}
    for path in log_files:
        text = path.read_text(errors="replace")
        for secret in _secrets(stack):
            assert secret not in text, f"a secret of the stack is in {path}"
