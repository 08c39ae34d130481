"""The "Your own data" commands of the guide and the README, run as written, and what
they say the commands do.

The guide (docs/own-data.md) is what a user follows with a data set of their own: its
"Try it" block (and the README's copy of it) runs here in a shell, in a folder of its
own, against the session's stack; then the collect and cleanse it describes run and
their counts are checked against the guide's sentences; then its `remove` command.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from blocks import DataStore
from flows.cleanse import CleanseParams, cleanse
from flows.collect import CollectResult, collect, CollectParams
from stack import control
from stack.prefect_yaml import PROJECT_ROOT
from tasks.datasets import load_registration
from tasks.label_studio import find_project
from tests.conftest import Stack

pytestmark = pytest.mark.integration

GUIDE = PROJECT_ROOT / "docs" / "own-data.md"
README = PROJECT_ROOT / "README.md"
NAME = "wine"
BLOCKS = {"guide": (GUIDE, "Try it with the example"), "readme": (README, "Your own data")}


def guide_block(heading: str, document: Path = GUIDE) -> str:
    """The first ```bash block under a `## heading` of a document."""
    text = document.read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, f"no bash block under {heading!r}"
    return match.group(1)


def inline_command(prefix: str) -> str:
    """An inline `command` of the guide that starts with `prefix`."""
    match = re.search(rf"`({re.escape(prefix)}[^`]*)`", GUIDE.read_text())
    assert match, f"the guide has no `{prefix}...` command"
    return match.group(1)


def shell(script: str, cwd: Path, stack: Stack) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        **control.shell_env(stack.settings),
    }
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, text=True, capture_output=True, timeout=600
    )


def wipe(store: DataStore, name: str) -> None:
    for prefix in ("raw", "clean", "quarantine", "duplicates", "labels", "models", "monitoring/drift", "state/collect", "state/cleanse", "state/sync", "state/train"):
        for key in store.list_keys(f"{prefix}/{name}"):
            store.delete(key)
    for key in store.list_keys("state/push/"):
        if key == f"state/push/{name}.json":
            store.delete(key)


@pytest.mark.parametrize("where", sorted(BLOCKS))
def test_the_guides_commands_register_collect_cleanse_and_remove_a_data_set(
    stack: Stack, prefect_server: str, ls, tmp_path: Path, where: str
) -> None:
    document, heading = BLOCKS[where]
    block = guide_block(heading, document)
    store = DataStore(base_path=str(stack.settings.data_dir))
    wipe(store, NAME)
    project = find_project(ls, NAME)
    if project is not None:
        ls.projects.delete(id=project.id)
    (tmp_path / "docs").symlink_to(PROJECT_ROOT / "docs")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)

    done = shell(block, tmp_path, stack)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"registered data set {NAME}" in done.stdout
    assert re.search(rf"^{NAME}\s+project \d+\s+{re.escape(str(tmp_path))}/my-wine/landing/\*\.csv$", done.stdout, re.M), done.stdout

    registration = load_registration(NAME)
    assert registration is not None and registration.webhook_id is not None
    hooks = ls.webhooks.list(project=str(registration.project_id))
    assert [h.url for h in hooks] == [control.receiver_url(stack.settings) + f"?dataset={NAME}"]

    # what the scheduled collect and the cleanse do with it (the guide's counts)
    collected = collect(CollectParams(dataset=NAME), store=store)
    assert isinstance(collected, CollectResult) and collected.new_rows == 179
    cleansed = cleanse(CleanseParams(dataset=NAME), store=store)
    assert (cleansed.total.clean, cleansed.total.quarantined, cleansed.total.duplicates) == (176, 2, 1)
    assert sorted(cleansed.total.quarantined_by_check) == ["alcohol: in_range(5, 20)", "magnesium: not_nullable"]

    again = shell(block.splitlines()[2], tmp_path, stack)
    assert again.returncode == 0 and registration.project_id == load_registration(NAME).project_id

    removed = shell(inline_command("labelloop dataset remove"), tmp_path, stack)
    assert removed.returncode == 0, removed.stderr[-2000:]
    assert load_registration(NAME) is None
    assert ls.webhooks.list(project=str(registration.project_id)) == []
    assert find_project(ls, NAME) is not None, "the project stays"
