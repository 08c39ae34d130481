"""`labelloop stack env`: what a shell sources to reach the stack's Prefect server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelloop.cli import app
from stack.credentials import generate_credentials, save_credentials
from stack.settings import StackSettings


def test_the_sourced_exports_carry_the_url_and_the_auth_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABELLOOP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LABELLOOP_PORT_BASE", "21000")
    settings = StackSettings()
    credentials = generate_credentials()
    save_credentials(settings.credentials_path, credentials)

    printed = CliRunner().invoke(app, ["stack", "env"])
    assert printed.exit_code == 0, printed.output
    sourced = subprocess.run(
        ["bash", "-c", 'eval "$1"; echo "$PREFECT_API_URL"; echo "$PREFECT_API_AUTH_STRING"',
         "sh", printed.output],
        capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()
    assert sourced == [
        "http://127.0.0.1:21000/api",
        credentials.prefect_api_auth_string.get_secret_value(),
    ]


def test_env_before_the_stack_was_ever_up_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABELLOOP_HOME", str(tmp_path / "never"))
    printed = CliRunner().invoke(app, ["stack", "env"])
    assert printed.exit_code == 1
    assert "labelloop stack up" in printed.output
