"""The locks: what they pin, that they agree with each other, and that the project venv
holds exactly uv.lock (no package installed from anywhere else)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from uv import find_uv_bin

from stack.install import LABEL_STUDIO_LOCK, LOCKS, locked_versions, normalise

ROOT = Path(__file__).resolve().parents[3]


def _uv_lock_versions() -> dict[str, list[str]]:
    packages = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    versions: dict[str, list[str]] = {}
    for package in packages:
        versions.setdefault(normalise(package["name"]), []).append(package.get("version", ""))
    return versions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("label-studio==1.23.2 \\\n    --hash=sha256:ab\n", {"label-studio": "1.23.2"}),
        ("Django_Filter==24.3 ; python_version >= '3.10'\n", {"django-filter": "24.3"}),
        ("# via label-studio\n    --hash=sha256:cd\n", {}),
        ("sentry-sdk==2.76.0\nurllib3==2.5.0\n", {"sentry-sdk": "2.76.0", "urllib3": "2.5.0"}),
    ],
)
def test_locked_versions_reads_every_pin(text: str, expected: dict[str, str]) -> None:
    assert locked_versions(text) == expected


def test_label_studio_lock_pins_the_server_and_a_sentry_sdk_it_starts_with() -> None:
    pins = locked_versions(LABEL_STUDIO_LOCK.read_text())
    assert pins["label-studio"] == "1.23.2"
    # sentry-sdk 3 removed an option Label Studio 1.23.2 passes at start.
    assert int(pins["sentry-sdk"].split(".")[0]) < 3
    assert "label-studio-sdk" in pins


@pytest.mark.parametrize("lock", ["label-studio.txt", "uv.txt"])
def test_every_requirements_pin_carries_hashes(lock: str) -> None:
    entries = re.split(r"\n(?=[^\s#])", (LOCKS / lock).read_text())
    pins = [e for e in entries if re.match(r"[A-Za-z0-9]", e)]
    assert pins, f"{lock} pins nothing"
    for pin in pins:
        assert "--hash=sha256:" in pin, f"{pin.splitlines()[0]} in {lock} has no hash"


def test_the_bootstrapped_uv_is_the_version_uv_lock_pins() -> None:
    bootstrap = locked_versions((LOCKS / "uv.txt").read_text())["uv"]
    assert _uv_lock_versions()["uv"] == [bootstrap]


def test_uv_lock_pins_the_tested_prefect_and_has_hashes() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    prefect = next(p for p in lock["package"] if p["name"] == "prefect")
    assert prefect["version"].startswith("3.9.")
    assert all("hash" in wheel for wheel in prefect["wheels"])


def test_the_project_venv_holds_exactly_uv_lock() -> None:
    """`uv sync --check` exits non-zero when any package is missing, extra or at another
    version than uv.lock says, or when uv.lock no longer matches pyproject.toml."""
    result = subprocess.run(
        [find_uv_bin(), "sync", "--locked", "--check", "--extra", "dev", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"UV_PYTHON_DOWNLOADS": "never", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    assert result.returncode == 0, result.stdout + result.stderr
