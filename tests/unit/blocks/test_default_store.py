"""The local default store is one folder, wherever a run is started from."""

from __future__ import annotations

from pathlib import Path

import pytest

from blocks import DataStore


def test_a_script_run_from_another_folder_writes_to_the_stacks_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "stack"
    monkeypatch.setenv("LABELLOOP_HOME", str(home))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    store = DataStore.named(None)
    store.write_bytes("raw/x", b"x")
    assert (home / "data" / "raw" / "x").read_bytes() == b"x"
    assert not (elsewhere / ".labelloop").exists()


def test_without_a_home_the_folder_is_fixed_when_the_store_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LABELLOOP_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    store = DataStore.named(None)
    assert store.base_path == str(tmp_path.resolve() / ".labelloop" / "data")
    later = tmp_path / "later"
    later.mkdir()
    monkeypatch.chdir(later)
    store.write_bytes("raw/x", b"x")
    assert (tmp_path / ".labelloop" / "data" / "raw" / "x").exists()
