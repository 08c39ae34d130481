"""Secrets of the stack never reach a log, a flow run's logs or an error message."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from label_studio_sdk.core.api_error import ApiError
from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings
from pydantic import SecretStr

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
    """Every secret of the stack (Label Studio's, S3's, the webhook's, the Prefect API's)."""
    found = [v.get_secret_value() for _, v in stack.credentials if isinstance(v, SecretStr)]
    assert stack.credentials.prefect_api_auth_string.get_secret_value() in found
    return found


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


def test_rejected_prefect_auth_string_error_does_not_echo_it(stack: Stack) -> None:
    wrong = "labelloop:" + "w" * 32
    updates = {PREFECT_API_URL: stack.settings.prefect_api_url, PREFECT_API_AUTH_STRING: wrong}
    with temporary_settings(updates=updates), get_client(sync_client=True) as client:
        with pytest.raises(httpx.HTTPStatusError) as caught:
            client.read_flows(limit=1)
    assert caught.value.response.status_code == 401
    shown = f"{caught.value}\n{caught.value!r}\n{caught.value.response.text}"
    assert wrong not in shown and base64.b64encode(wrong.encode()).decode() not in shown


def test_the_servers_records_hold_no_secret(stack: Stack, prefect_server: str) -> None:
    """What the session's runs left on the Prefect server: artifacts, parameters, events."""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(limit=200)
        runs = client.read_flow_runs(limit=200)
        events = client.read_events(limit=50).events
    assert runs, "the session ran flows on the stack's server before this test"
    records = [
        *(a.model_dump_json() for a in artifacts),
        *(json.dumps(r.parameters, default=str) for r in runs),
        *(e.model_dump_json() for e in events),
    ]
    for record in records:
        for secret in _secrets(stack):
            assert secret not in record


def test_stack_logs_hold_no_secret(stack: Stack) -> None:
    log_files = sorted(stack.settings.logs_dir.glob("*.log"))
    assert {p.name for p in log_files} >= {"prefect.log", "label-studio.log", "s3.log"}
    for path in log_files:
        text = path.read_text(errors="replace")
        for secret in _secrets(stack):
            assert secret not in text, f"a secret of the stack is in {path}"
