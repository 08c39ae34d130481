"""A server that dies at start is explained: its last exception and the likely package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stack import process
from stack.credentials import generate_credentials
from stack.process import StackError, crash_cause, distribution_of
from stack.servers import label_studio_spec
from stack.settings import StackSettings

# Label Studio 1.23.2 starting beside sentry-sdk 3.0.1 (captured, paths rewritten).
SENTRY_3_LOG = Path(__file__).resolve().parents[2] / "fixtures" / "stack" / "label-studio-sentry-sdk-3.log"


def _site_packages(venv: Path, module: str, dist: str) -> Path:
    site = venv / "lib" / "python3.11" / "site-packages"
    record = site / f"{dist}.dist-info" / "RECORD"
    record.parent.mkdir(parents=True)
    record.write_text(f"{module}/__init__.py,sha256=x,1\n{module}/client.py,sha256=y,2\n")
    return site


def test_the_sentry_crash_names_the_exception_and_the_module() -> None:
    cause = crash_cause(SENTRY_3_LOG.read_text())
    assert cause is not None
    assert cause.line == "TypeError: Unknown option 'send_default_pii'"
    assert cause.module == "sentry_sdk"


@pytest.mark.parametrize(
    ("log", "line", "module"),
    [
        ("all good\nlistening on 8080\n", None, None),
        (
            "Traceback (most recent call last):\n"
            '  File "/v/lib/python3.11/site-packages/app/main.py", line 3, in <module>\n'
            '  File "/usr/lib/python3.11/socket.py", line 9, in bind\n'
            "OSError: [Errno 98] Address already in use\n",
            "OSError: [Errno 98] Address already in use",
            "app",
        ),
        (
            "Traceback (most recent call last):\n"
            '  File "/v/lib/python3.11/site-packages/a/x.py", line 1, in f\n'
            "ValueError: first\n\nDuring handling of the above exception, another exception occurred:\n\n"
            "Traceback (most recent call last):\n"
            '  File "/v/lib/python3.11/site-packages/b/y.py", line 2, in g\n'
            "django.core.exceptions.ImproperlyConfigured: no database\n",
            "django.core.exceptions.ImproperlyConfigured: no database",
            "b",
        ),
    ],
)
def test_crash_cause_reads_the_last_traceback(log: str, line: str | None, module: str | None) -> None:
    cause = crash_cause(log)
    assert (cause.line if cause else None, cause.module if cause else None) == (line, module)


def test_the_module_is_traced_to_its_installed_distribution(tmp_path: Path) -> None:
    site = _site_packages(tmp_path / "venv", "sentry_sdk", "sentry_sdk-3.0.1")
    assert distribution_of(site, "sentry_sdk") == "sentry-sdk 3.0.1"
    assert distribution_of(site, "django") is None


def test_a_server_that_dies_at_start_is_explained_in_the_error(tmp_path: Path) -> None:
    """The real wait: a process that writes the captured traceback and exits."""
    settings = StackSettings(home=tmp_path / "home", port_base=21400, ls_venv=tmp_path / "lsvenv")
    _site_packages(settings.label_studio_venv, "sentry_sdk", "sentry_sdk-3.0.1")
    spec = label_studio_spec(settings, generate_credentials(), {}).model_copy(
        update={"command": [str(settings.label_studio_venv / "bin" / "label-studio")]}
    )
    spec.log_path.parent.mkdir(parents=True)
    spec.log_path.write_text(SENTRY_3_LOG.read_text())
    dying = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    dying.wait()
    with pytest.raises(StackError) as caught:
        process.wait_healthy(spec, process.RunningServer(pid=dying.pid, port=spec.port, command0="x"))
    message = str(caught.value)
    assert "label-studio exited before it became healthy: TypeError: Unknown option" in message
    assert "likely package sentry-sdk 3.0.1" in message
