"""The docs site builds with warnings as errors, its Reference covers what the code has,
and the README, the front page, links only to pages that exist.

The build runs `mkdocs build --strict` as a user (or CI) would, into a folder of its own:
a broken link or anchor, a page missing from the nav, a docstring mkdocstrings cannot
render or a failing Reference generator fails it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from labelloop.cli import app
from stack.prefect_yaml import PROJECT_ROOT
from tasks import events

README = PROJECT_ROOT / "README.md"
FLOW_PARAMS = [
    "CollectParams",
    "CleanseParams",
    "PushParams",
    "SyncParams",
    "SyncSessionParams",
    "TrainParams",
    "RefreshParams",
    "MonitorParams",
]
BLOCKS = ["DataStore", "LabelStudioCredentials", "DatasetRegistration"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for this module with `mkdocs build --strict`."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


def page(site: Path, path: str) -> str:
    return (site / path / "index.html").read_text()


def test_every_page_of_the_nav_is_built(site: Path) -> None:
    for path in ["getting-started", "own-data", "concepts", "deploying", "operating", "benchmarks"]:
        assert (site / path / "index.html").is_file(), path


def test_the_reference_lists_every_flows_params_model(site: Path) -> None:
    html = page(site, "reference/params")
    missing = [name for name in FLOW_PARAMS if f"<code>{name}</code>" not in html]
    assert not missing, f"flow parameters page lacks {missing}"
    # a field with its description, as the model declares it
    assert "gate" in html and "min_improvement" in html


def test_the_reference_lists_every_event_with_a_sender_and_its_payload(site: Path) -> None:
    html = page(site, "reference/events")
    names = sorted({v for k, v in vars(events).items() if k.isupper() and isinstance(v, str) and v.startswith("labelloop.")})
    assert names
    missing = [name for name in names if f"<code>{name}</code>" not in html]
    assert not missing, f"events page lacks {missing}"
    assert "Not sent by the scanned sources" not in html, "an event name is sent from nowhere the generator reads"
    # payload keys, read from the dict the code sends
    for key in ("labels_version", "batch_id", "accuracy_interval", "annotation_ids"):
        assert f"<code>{key}</code>" in html, key


def test_the_reference_lists_every_block_and_every_command(site: Path) -> None:
    blocks = page(site, "reference/blocks")
    assert all(f"<code>{name}</code>" in blocks for name in BLOCKS)
    assert "labelloop-data-store" in blocks  # the block type slug, the server-side key
    cli = page(site, "reference/cli")
    root = typer.main.get_command(app)
    for group_name, group in root.commands.items():  # type: ignore[attr-defined]
        assert f"<code>labelloop {group_name}</code>" in cli, group_name
        for name in getattr(group, "commands", {}):
            assert f"<code>labelloop {group_name} {name}</code>" in cli, f"{group_name} {name}"


def test_the_data_layout_page_draws_the_key_tree_from_the_code(site: Path) -> None:
    html = page(site, "concepts")
    assert "labels/&lt;project&gt;/latest.json" in html
    assert "labelloop:layout" not in html


def test_the_readme_is_a_front_page_linking_to_pages_that_exist() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 200, "the README is a front page; the details belong in docs/"
    for heading in ("## Two commands", "## Your own data"):
        assert f"\n{heading}\n" in text, heading
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert local, "the README links into docs/"
    missing = [link for link in local if not (PROJECT_ROOT / link).is_file()]
    assert not missing, f"README links to missing files: {missing}"


def test_the_readme_tells_no_history() -> None:
    """No commit hashes: a figure's history belongs in docs/benchmarks.md and the git log."""
    text = README.read_text()
    hashes = [
        token
        for token in re.findall(r"(?<![\w-])[0-9a-f]{7,40}(?![\w-])", text)
        if re.search(r"[a-f]", token) and re.search(r"[0-9]", token)
    ]
    assert not hashes, f"commit hashes in the README: {hashes}"
