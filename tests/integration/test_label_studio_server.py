"""Contract: the block's client talks to a real Label Studio server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from stack import control, process
from tests.conftest import Stack

pytestmark = pytest.mark.integration

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="label" toName="text"><Choice value="pos"/><Choice value="neg"/></Choices>
</View>"""


def test_create_project_import_tasks_and_read_them_back(ls: LabelStudio, unique: str) -> None:
    project = ls.projects.create(title=f"contract-{unique}", label_config=CONFIG)
    try:
        rows = [{"text": f"item {i}", "item_id": f"{unique}-{i}"} for i in range(25)]
        ls.projects.import_tasks(id=project.id, request=rows)
        tasks = list(ls.tasks.list(project=project.id, fields="all"))
        assert sorted(t.data["item_id"] for t in tasks) == sorted(r["item_id"] for r in rows)
        assert {t.data["text"] for t in tasks} == {r["text"] for r in rows}
        assert ls.projects.get(id=project.id).title == f"contract-{unique}"
    finally:
        ls.projects.delete(id=project.id)


def test_wrong_token_is_rejected(stack: Stack, unique: str) -> None:
    bad = LabelStudio(base_url=stack.settings.label_studio_url, api_key="0" * 40, max_retries=0)
    with pytest.raises(ApiError) as caught:
        bad.projects.create(title=f"never-{unique}", label_config=CONFIG)
    assert caught.value.status_code == 401


# A line that reports a failed connection, and the host names in it.
_FAILED = re.compile(
    r"NameResolutionError|Max retries exceeded|Failed to establish|Failed to resolve|"
    r"Name or service not known|sentry",
    re.IGNORECASE,
)
_HOST = re.compile(r"(?:host=|resolve |//)'?(?P<host>[A-Za-z0-9][\w.-]*)")


def outbound_hosts(log_text: str) -> set[str]:
    """Hosts other than loopback that the log says a connection was attempted to."""
    hosts = {m["host"] for line in log_text.splitlines() if _FAILED.search(line) for m in _HOST.finditer(line)}
    return hosts - {"127.0.0.1", "localhost"}


def test_outbound_hosts_finds_a_sentry_retry() -> None:
    line = (
        "urllib3.connectionpool WARNING Retrying ... HTTPSConnectionPool(host='o227124.ingest.sentry.io', "
        "port=443): Max retries exceeded (Caused by NameResolutionError(\"Failed to resolve "
        "'o227124.ingest.sentry.io'\"))"
    )
    assert outbound_hosts(f"ok\n{line}\n") == {"o227124.ingest.sentry.io"}
    assert outbound_hosts("POST http://127.0.0.1:18403/label-studio Max retries exceeded") == set()


def test_label_studio_phones_nobody(stack: Stack, ls: LabelStudio, unique: str) -> None:
    """The running server has Sentry, analytics and the version check off, and its log
    (after this session's traffic and a request that fails on the server) shows no
    attempt to reach a host other than loopback."""
    spec = next(s for s in control.server_specs(stack.settings, stack.credentials, {}) if s.name == "label-studio")
    running = process.read_pid_file(spec)
    assert running is not None, "the stack's Label Studio has no pid file"
    environ = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{running.pid}/environ").read_text().split("\0")
        if "=" in item
    )
    assert environ["LABEL_STUDIO_SENTRY_DSN"] == ""
    assert environ["LABEL_STUDIO_FRONTEND_SENTRY_DSN"] == ""
    assert environ["LABEL_STUDIO_COLLECT_ANALYTICS"] == "false"
    with pytest.raises(ApiError):
        ls.projects.create(title=f"bad-{unique}", label_config="<View><Broken")
    text = spec.log_path.read_text(errors="replace")
    outside = outbound_hosts(text)
    assert not outside, f"Label Studio tried to reach {sorted(outside)}; see {spec.log_path}"
