"""The stack's own contract: idempotent up, a clean down, clear errors that leave nothing running.

These tests run a second, throwaway stack in a temporary home on free ports, so the
session's stack is never disturbed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from uv import find_uv_bin

from stack import control, process
from stack.install import LABEL_STUDIO_LOCK, locked_versions
from stack.credentials import generate_credentials
from stack.process import StackError
from stack.servers import ServerSpec, prefect_spec
from stack.settings import StackSettings
from tests.conftest import Stack, free_port_base

pytestmark = pytest.mark.integration


def _processes_under(home: Path) -> list[psutil.Process]:
    """Live processes whose command line mentions the stack's home or its ports' servers."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if str(home) in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def test_up_twice_reuses_and_down_leaves_nothing(other: StackSettings) -> None:
    first = control.up(other)
    assert [s.state for s in first] == ["started"] * 4
    group_members = {
        child.pid
        for state in first
        for child in psutil.Process(state.pid).children(recursive=True)
    } | {state.pid for state in first}

    second = control.up(other)
    assert [s.state for s in second] == ["reused"] * 4
    assert [s.pid for s in second] == [s.pid for s in first]

    stopped = control.down(other)
    # the demo's `labelloop serve` was never started: only the four servers stop
    assert {s.name: s.state for s in stopped} == {
        "serve": "down",
        **{s.name: "stopped" for s in first},
    }
    alive = [
        pid
        for pid in group_members
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert alive == []
    assert _processes_under(other.root) == []
    assert not any(process.port_in_use(other.port_base + i) for i in range(5))
    assert [s.state for s in control.status(other)] == ["down"] * 5


def test_port_taken_names_the_server_and_stops_the_others(other: StackSettings) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", other.s3_port))
        squatter.listen()
        with pytest.raises(StackError, match=rf"s3: port {other.s3_port} is already taken"):
            control.up(other)
    assert _processes_under(other.root) == []
    assert [s.state for s in control.status(other)] == ["down"] * 5


def test_up_refuses_a_prefect_server_without_the_auth_string_or_with_another(
    stack: Stack, other: StackSettings
) -> None:
    """A server started before the stack had an auth string (or with another one) would
    answer anyone, or refuse every client: `up` says how to restart it."""
    with pytest.raises(StackError, match=r"answers 401 to the stack's auth string .* stack down"):
        control.check_prefect_auth(stack.settings, generate_credentials())

    credentials = control.stack_credentials(other)
    spec = prefect_spec(other, credentials, os.environ)
    open_env = {k: v for k, v in spec.env.items() if k != "PREFECT_SERVER_API_AUTH_STRING"}
    spec = spec.model_copy(update={"env": open_env})
    process.wait_healthy(spec, process.start(spec))
    with pytest.raises(StackError, match=r"answers API calls without the stack's auth string"):
        control.check_prefect_auth(other, credentials)


def test_missing_label_studio_venv_says_how_to_install(other: StackSettings, tmp_path: Path) -> None:
    broken = other.model_copy(update={"ls_venv": tmp_path / "no-venv"})
    with pytest.raises(StackError, match=r"label-studio: .*labelloop stack install"):
        control.up(broken)
    assert _processes_under(other.root) == []
    assert not process.port_in_use(other.prefect_port)


def test_server_that_never_gets_healthy_names_its_log(tmp_path: Path) -> None:
    port = free_port_base()
    spec = ServerSpec(
        name="sleeper",
        port=port,
        command=[sys.executable, "-c", "import time; print('booting', flush=True); time.sleep(120)"],
        env={},
        health_url=f"http://127.0.0.1:{port}/health",
        url=f"http://127.0.0.1:{port}",
        log_path=tmp_path / "logs" / "sleeper.log",
        pid_path=tmp_path / "run" / "sleeper.pid",
        ready_timeout_s=2,
    )
    running = process.start(spec)
    try:
        with pytest.raises(StackError, match=r"(?s)sleeper did not answer .* see .*sleeper\.log:\n.*booting"):
            process.wait_healthy(spec, running)
    finally:
        assert process.stop(spec)
    assert not psutil.pid_exists(running.pid) or psutil.Process(running.pid).status() == psutil.STATUS_ZOMBIE
    assert process.read_pid_file(spec) is None


def test_label_studio_venv_holds_exactly_its_lock(stack: Stack) -> None:
    """What `labelloop stack install` left is the locked set: nothing more, nothing other."""
    python = stack.settings.label_studio_venv / "bin" / "python"
    frozen = subprocess.run(
        [find_uv_bin(), "pip", "freeze", "--python", str(python)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert locked_versions(frozen) == locked_versions(LABEL_STUDIO_LOCK.read_text())
