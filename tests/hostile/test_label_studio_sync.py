"""Tasks broken in the real Label Studio: the sync labels only what the ledger says, and says why.

A person with access to a project can edit a task's data or post any annotation JSON
through the API. Each case pushes real tasks, breaks one, annotates, syncs, and checks
what must happen to the broken task and that every other item of the run got its label.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from label_studio_sdk import LabelStudio
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from annotation.config import DataKind, LabelSpec, build_label_config
from blocks import DataStore
from demo.bot import ensure_team, vote
from flows.annotate import PushParams, push_batch
from flows.sync import SyncParams, sync_labels
from learning.configs import FeatureSpec
from specs import DatasetSpec
from tasks.state import read_latest_labels
from tests.conftest import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
def spec(unique: str) -> DatasetSpec:
    return DatasetSpec(
        name=unique,
        schema_path="cleansing.schemas.TextSnippets",
        labels=LabelSpec(kind=DataKind.TEXT, labels=["positive", "negative", "neutral"]),
        features=FeatureSpec(modality="text", text_column="text"),
        value_column="text",
    )


@pytest.fixture
def store(tmp_path: Path, spec: DatasetSpec) -> DataStore:
    store = DataStore(base_path=str(tmp_path / "store"))
    frame = pd.DataFrame(
        {"item_id": [f"{spec.name}-{i}" for i in range(4)], "text": [f"text {i}" for i in range(4)]}
    )
    store.write_parquet(f"clean/{spec.name}/b1.parquet", frame)
    return store


@pytest.fixture
def project(ls: LabelStudio, spec: DatasetSpec) -> Iterator[None]:
    yield
    for found in ls.projects.list(title=spec.name):
        if found.title == spec.name:
            ls.projects.delete(id=found.id)


def _review(name: str) -> str:
    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"review-{name}"])), limit=1
        )
    return str(artifact.data)


def test_an_edited_item_id_and_a_malformed_result_label_nothing_and_are_reviewed(
    stack: Stack, prefect_server: str, ls: LabelStudio, spec: DatasetSpec, store: DataStore, project: None
) -> None:
    push_batch(PushParams(dataset=spec, batch_size=4, strategy="random", with_predictions=False), store=store, credentials=stack.label_studio())
    (found,) = [p for p in ls.projects.list(title=spec.name) if p.title == spec.name]
    task_of = {t.data["item_id"]: int(t.id) for t in ls.tasks.list(project=found.id, include="id,data")}
    a, b, c, d = sorted(task_of)
    config = build_label_config(spec.labels)
    first, second = ensure_team(ls, 2, prefix="hostile")

    # b's task now claims to be a's item; annotated 'negative', it must not vote on a.
    ls.tasks.update(id=str(task_of[b]), data={"item_id": a, "text": "text 1"})
    vote(ls, config, task_of[a], first, "positive")
    vote(ls, config, task_of[b], second, "negative")
    # c: one sound vote and one whose choices are a string (the API stores it as given).
    vote(ls, config, task_of[c], first, "neutral")
    malformed = ls.annotations.create(
        id=task_of[c],
        result=[{"from_name": config.from_name, "to_name": config.to_name, "type": "choices",
                 "value": {"choices": "negative"}}],
        completed_by=second,
    )
    vote(ls, config, task_of[d], second, "negative")

    result = sync_labels(SyncParams(dataset=spec, overlap_seconds=0), store=store, credentials=stack.label_studio())

    _, labels = read_latest_labels(store, spec.name)
    by_item = {label.item_id: label for label in labels}
    assert sorted(by_item) == [a, c, d]  # b has no label; nobody else lost one
    assert (by_item[a].label, by_item[a].votes, by_item[a].task_id) == ("positive", {"positive": 1}, task_of[a])
    assert (by_item[c].label, by_item[c].votes) == ("neutral", {"neutral": 1})
    assert (by_item[d].label, by_item[d].votes) == ("negative", {"negative": 1})
    assert result.skipped == 2 and result.labels == 3
    review = _review(spec.name)
    assert f"| {b} | {task_of[b]} | item_id_changed |" in review
    assert f"task {task_of[b]} was pushed for item '{b}' but its data now says item_id '{a}'" in review
    assert f"| {c} | {task_of[c]} | malformed_result | annotation {malformed.id} has no usable choice" in review
