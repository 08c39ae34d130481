"""Fixtures captured from a real Label Studio by tests/fixtures/label_studio/capture.py.

The capture scenario (text project, labels pos/neg/neu, annotators 2, 3, 4 = ann1-3):
item-000 three times pos; item-001 pos vs neg (tie); item-002 neg, neg, pos;
item-003 a cancelled annotation and neu; item-004 an empty result; item-005 pos, later
edited to neg; item-006 neg, later deleted; item-007 the unknown label "angry";
item-008 unannotated, later neu by ann2; item-009 never annotated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from annotation.config import ClassificationConfig, parse_label_config
from annotation.models import LSTask, parse_tasks

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "label_studio"


def load_fixture(name: str) -> Any:
    """Read one captured JSON file."""
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(name="load")
def load_fixture_function() -> Any:
    """The fixture reader, for tests that pick a file by parameter."""
    return load_fixture


@pytest.fixture
def text_config() -> ClassificationConfig:
    return parse_label_config(load_fixture("project_text.json")["label_config"])


@pytest.fixture
def snapshot_1() -> list[LSTask]:
    return parse_tasks(load_fixture("tasks_snapshot_1.json"))


@pytest.fixture
def snapshot_2() -> list[LSTask]:
    return parse_tasks(load_fixture("tasks_snapshot_2.json"))


@pytest.fixture
def delta_2() -> list[LSTask]:
    return parse_tasks(load_fixture("tasks_delta_2.json")["tasks"])
