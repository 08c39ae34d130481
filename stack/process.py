"""Start, health-check and stop one server process; pid files make it idempotent."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from stack.servers import ServerSpec

T = TypeVar("T")


class StackError(RuntimeError):
    """A server of the stack could not be started, reached or stopped."""


class RunningServer(BaseModel):
    """What the pid file records about a started server."""

    pid: int
    port: int
    command0: str


def port_in_use(port: int) -> bool:
    """Whether anything accepts TCP connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def is_healthy(url: str, timeout_s: float = 2.0) -> bool:
    """Whether the health URL answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _reap(pid)


def _reap(pid: int) -> bool:
    """Collect our own exited child (a zombie still answers kill 0). True if it exited."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return reaped == pid


def read_pid_file(spec: ServerSpec) -> RunningServer | None:
    """The recorded server if its process is still alive; a stale pid file is removed."""
    if not spec.pid_path.exists():
        return None
    running = RunningServer.model_validate_json(spec.pid_path.read_text())
    if _alive(running.pid):
        return running
    spec.pid_path.unlink(missing_ok=True)
    return None


_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+')
_SITE_PACKAGES = re.compile(r"/site-packages/(?P<module>[A-Za-z0-9_]+)[/.]")


class CrashCause(BaseModel):
    """What the last Python traceback in a server's log says stopped it."""

    line: str
    module: str | None = None  # the top-level module of the innermost installed frame


def crash_cause(log_text: str) -> CrashCause | None:
    """The exception line of the log's last traceback, and the installed module it came from.

    The module is that of the innermost frame under `site-packages`: where a dependency
    of the server raised, it names the dependency (`sentry_sdk`), not the server.
    """
    lines = log_text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call")]
    if not starts:
        return None
    module = None
    for line in lines[starts[-1] + 1 :]:
        frame = _FRAME.match(line)
        if frame:
            installed = _SITE_PACKAGES.search(frame["path"])
            module = installed["module"] if installed else module
            continue
        if line and not line[0].isspace():  # frames are indented, the exception is not
            return CrashCause(line=line.strip(), module=module)
    return None


def distribution_of(site_packages: Path, module: str) -> str | None:
    """`name version` of the installed distribution that holds a top-level module."""
    for record in sorted(site_packages.glob("*.dist-info/RECORD")):
        with record.open(errors="replace") as lines:
            if any(line.startswith((f"{module}/", f"{module}.py,")) for line in lines):
                name, _, version = record.parent.name.removesuffix(".dist-info").partition("-")
                return f"{name.replace('_', '-').lower()} {version}"
    return None


def describe_crash(spec: ServerSpec) -> str:
    """One line for an error message: the log's last exception and the likely package."""
    cause = crash_cause(spec.log_path.read_text(errors="replace")) if spec.log_path.exists() else None
    if cause is None:
        return ""
    where = ""
    if cause.module is not None:
        executable = Path(spec.command[0])
        found = [
            dist
            for site in executable.parent.parent.glob("lib/python*/site-packages")
            if (dist := distribution_of(site, cause.module)) is not None
        ]
        package = found[0] if found else cause.module
        where = f" (raised in {cause.module}: likely package {package})"
    return f": {cause.line}{where}"


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, for error messages."""
    if not path.exists():
        return "(no log written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start(spec: ServerSpec) -> RunningServer:
    """Start the server in its own process group, logging to its log file.

    Raises:
        StackError: the executable is missing or the port is taken by another process.
    """
    executable = Path(spec.command[0])
    if not executable.exists():
        hint = f"; {spec.install_hint}" if spec.install_hint else ""
        raise StackError(f"{spec.name}: executable {executable} not found{hint}")
    if port_in_use(spec.port):
        raise StackError(
            f"{spec.name}: port {spec.port} is already taken by a process labelloop did not "
            "start; stop it or choose another LABELLOOP_PORT_BASE"
        )
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    spec.pid_path.parent.mkdir(parents=True, exist_ok=True)
    with spec.log_path.open("ab") as log:
        log.write(f"\n--- labelloop starting {spec.name} on port {spec.port} ---\n".encode())
        log.flush()
        process = subprocess.Popen(
            spec.command,
            env=spec.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = RunningServer(pid=process.pid, port=spec.port, command0=spec.command[0])
    spec.pid_path.write_text(running.model_dump_json())
    return running


def wait_healthy(spec: ServerSpec, running: RunningServer) -> None:
    """Poll the health URL until it answers or the deadline passes.

    Raises:
        StackError: the process exited or never became healthy; names the log.
    """
    deadline = time.monotonic() + spec.ready_timeout_s
    while time.monotonic() < deadline:
        if is_healthy(spec.health_url):
            return
        if not _alive(running.pid):
            raise StackError(
                f"{spec.name} exited before it became healthy{describe_crash(spec)}; "
                f"see {spec.log_path}:\n"
                f"{tail(spec.log_path)}"
            )
        time.sleep(0.5)
    raise StackError(
        f"{spec.name} did not answer {spec.health_url} within {spec.ready_timeout_s:.0f} s; "
        f"see {spec.log_path}:\n{tail(spec.log_path)}"
    )


def stop(spec: ServerSpec, timeout_s: float = 20.0) -> bool:
    """Stop the server's whole process group: its stop signal, then SIGKILL after the timeout.

    Returns:
        True if a running server was stopped, False if none was running.
    """
    running = read_pid_file(spec)
    if running is None:
        return False
    try:
        pgid = os.getpgid(running.pid)
    except ProcessLookupError:
        spec.pid_path.unlink(missing_ok=True)
        return False
    _signal_group(pgid, spec.stop_signal)
    deadline = time.monotonic() + timeout_s
    while _group_alive(pgid, running.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _group_alive(pgid, running.pid):
        _signal_group(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _group_alive(pgid, running.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    if _group_alive(pgid, running.pid):
        raise StackError(f"{spec.name}: process group {pgid} survived SIGKILL")
    spec.pid_path.unlink(missing_ok=True)
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return


def _group_alive(pgid: int, leader: int) -> bool:
    _reap(leader)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def describe(running: RunningServer) -> str:
    """One line for logs: no environment, so no secret."""
    return json.dumps({"pid": running.pid, "port": running.port})


def poll(what: str, probe: Callable[[], T | None], timeout_s: float, every_s: float = 1.0) -> T:
    """Call `probe` until it returns something other than None.

    Raises:
        StackError: nothing within `timeout_s` (names what was awaited and where to look).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise StackError(
                f"no {what} within {timeout_s:.0f} s: see the flow runs in the Prefect UI "
                "and the serve log (`labelloop stack status`)"
            )
        time.sleep(every_s)
