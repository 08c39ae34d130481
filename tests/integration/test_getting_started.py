"""The commands of docs/getting-started.md's "The servers", run as written in a shell,
on a throwaway stack of their own: install, up, status, login, env, down."""

from __future__ import annotations

import os
import subprocess

import pytest

from stack import control
from stack.prefect_yaml import PROJECT_ROOT
from stack.settings import StackSettings
from tests.integration.test_own_data_guide import guide_block

pytestmark = pytest.mark.integration

GETTING_STARTED = PROJECT_ROOT / "docs" / "getting-started.md"


def test_the_servers_commands_run_as_written(other: StackSettings) -> None:
    block = guide_block("The servers", GETTING_STARTED)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LABELLOOP_"))}
    env |= {
        "LABELLOOP_HOME": str(other.home),
        "LABELLOOP_PORT_BASE": str(other.port_base),
        "LABELLOOP_LS_VENV": str(other.label_studio_venv),
    }
    # the block as written, then what its `eval` left in the shell
    script = block + 'echo "api: $PREFECT_API_URL"\n'
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=PROJECT_ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=900,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert other.label_studio_url in done.stdout, "status names where Label Studio runs"
    assert f"api: {other.prefect_api_url}" in done.stdout, "env points Prefect at the stack"
    assert all(state.state != "running" for state in control.status(other)), "down stops all"
