"""Someone edits the project's label set in Label Studio: the spec's set wins, and it shows.

Rule: the data set's spec owns the label set. A push puts back a spec label the project
lacks and keeps a label the project has and the spec lacks; both are reported (WARNING
log lines, the push result, a `label-set-<name>` artifact). The sync counts only the
spec's labels: a choice outside them is an unknown_label skip, and every other item of
the sync gets its label.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from label_studio_sdk import LabelStudio
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from annotation.config import build_label_config, parse_label_config, with_labels
from annotation.config import DataKind, LabelSpec
from blocks import DataStore
from demo.bot import ensure_team, vote
from flows.annotate import PushParams, push_batch
from flows.sync import SyncParams, sync_labels
from learning.configs import FeatureSpec
from specs import DatasetSpec
from tasks.state import read_latest_labels
from tests.conftest import Stack

pytestmark = pytest.mark.integration

LABELS = ["positive", "negative", "neutral"]


@pytest.fixture
def spec(unique: str) -> DatasetSpec:
    return DatasetSpec(
        name=unique,
        schema_path="cleansing.schemas.TextSnippets",
        labels=LabelSpec(kind=DataKind.TEXT, labels=LABELS),
        features=FeatureSpec(modality="text", text_column="text"),
        value_column="text",
    )


@pytest.fixture
def store(tmp_path: Path, spec: DatasetSpec) -> DataStore:
    store = DataStore(base_path=str(tmp_path / "store"))
    frame = pd.DataFrame(
        {"item_id": [f"{spec.name}-{i}" for i in range(6)], "text": [f"text {i}" for i in range(6)]}
    )
    store.write_parquet(f"clean/{spec.name}/b1.parquet", frame)
    return store


@pytest.fixture
def project(ls: LabelStudio, spec: DatasetSpec) -> Iterator[None]:
    yield
    for found in ls.projects.list(title=spec.name):
        if found.title == spec.name:
            ls.projects.delete(id=found.id)


def _artifact(key: str) -> str:
    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=1
        )
    return str(artifact.data)


def test_the_specs_label_set_wins_and_every_change_is_reported(
    stack: Stack, prefect_server: str, ls: LabelStudio, spec: DatasetSpec, store: DataStore, project: None
) -> None:
    credentials = stack.label_studio()
    first = push_batch(PushParams(dataset=spec, batch_size=3, strategy="random", with_predictions=False), store=store, credentials=credentials)
    assert (first.labels_put_back, first.labels_outside_spec) == ([], [])
    (found,) = [p for p in ls.projects.list(title=spec.name) if p.title == spec.name]
    spec_config = build_label_config(spec.labels)

    # In Label Studio: "neutral" removed, "angry" added.
    edited = with_labels(spec_config, ["positive", "negative", "angry"])
    ls.projects.update(id=found.id, label_config=edited.xml)

    second = push_batch(PushParams(dataset=spec, batch_size=3, strategy="random", with_predictions=False), store=store, credentials=credentials)
    assert second.imported == 3  # the push itself went through
    assert (second.labels_put_back, second.labels_outside_spec) == (["neutral"], ["angry"])
    now = parse_label_config(ls.projects.get(id=found.id).label_config or "", spec_config.from_name)
    assert sorted(now.labels) == sorted([*LABELS, "angry"])
    report = _artifact(f"label-set-{spec.name}")
    assert "lacked the spec's labels ['neutral']" in report and "has labels ['angry']" in report

    task_of = {t.data["item_id"]: int(t.id) for t in ls.tasks.list(project=found.id, include="id,data")}
    items = sorted(task_of)
    (annotator,) = ensure_team(ls, 1, prefix="labelset")
    vote(ls, now, task_of[items[0]], annotator, "angry")
    for item, label in zip(items[1:], ["positive", "negative", "neutral", "positive", "negative"], strict=True):
        vote(ls, now, task_of[item], annotator, label)

    result = sync_labels(SyncParams(dataset=spec, overlap_seconds=0), store=store, credentials=credentials)
    _, labels = read_latest_labels(store, spec.name)
    by_item = {label.item_id: label.label for label in labels}
    assert by_item == dict(zip(items[1:], ["positive", "negative", "neutral", "positive", "negative"], strict=True))
    assert result.skipped == 1 and result.labels == 5
