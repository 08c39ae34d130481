"""Push and sync against the real Label Studio: idempotent push, incremental labels, bots as annotators."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pandas as pd
import pytest
from label_studio_sdk import LabelStudio
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

import flows.annotate
from annotation.config import DataKind, LabelSpec, build_label_config
from blocks import DataStore
from demo.bot import TeamConfig, annotate, ensure_team, relabel, vote
from flows.annotate import PushParams, push_batch
from flows.sync import SyncParams, sync_labels
from learning.pipelines import FeatureSpec
from specs import DatasetSpec
from tasks.events import ANNOTATOR_FLAGGED, LABELS_READY
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
def store(tmp_path: pytest.TempPathFactory, spec: DatasetSpec) -> DataStore:
    store = DataStore(base_path=str(tmp_path / "store"))
    texts = [f"review number {i} says {'great' if i % 3 == 0 else 'poor' if i % 3 == 1 else 'fine'}" for i in range(50)]
    frame = pd.DataFrame({"item_id": [f"{spec.name}-{i:03d}" for i in range(50)], "text": texts})
    store.write_parquet(f"clean/{spec.name}/b1.parquet", frame.iloc[:30])
    store.write_parquet(f"clean/{spec.name}/b2.parquet", frame.iloc[30:])
    return store


@pytest.fixture
def project_cleanup(ls: LabelStudio, spec: DatasetSpec) -> Iterator[None]:
    yield
    for project in ls.projects.list(title=spec.name):
        if project.title == spec.name:
            ls.projects.delete(id=project.id)


def _project_item_ids(ls: LabelStudio, spec: DatasetSpec) -> list[str]:
    project = next(p for p in ls.projects.list(title=spec.name) if p.title == spec.name)
    return [t.data["item_id"] for t in ls.tasks.list(project=project.id, include="id,data")]


def test_push_crash_after_a_chunk_then_rerun_leaves_exactly_n_tasks(
    stack: Stack, prefect_server: str, ls: LabelStudio, spec: DatasetSpec, store: DataStore,
    project_cleanup: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = flows.annotate.import_tasks
    calls = {"n": 0}

    def import_then_crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        task_ids = real_import(*args, **kwargs)
        if calls["n"] == 2:
            raise ConnectionError("lost the answer after Label Studio imported the chunk")
        return task_ids

    monkeypatch.setattr(flows.annotate, "import_tasks", import_then_crash)
    params = PushParams(dataset=spec, batch_size=35, chunk_size=10, strategy="random", seed=1)
    with pytest.raises(ConnectionError):
        push_batch(params, store=store, credentials=stack.label_studio())
    assert len(_project_item_ids(ls, spec)) == 20  # two chunks reached Label Studio

    monkeypatch.setattr(flows.annotate, "import_tasks", real_import)
    result = push_batch(params, store=store, credentials=stack.label_studio())
    in_label_studio = _project_item_ids(ls, spec)
    assert len(in_label_studio) == len(set(in_label_studio)) == 35
    assert result.resumed and result.recovered == 10 and result.imported == 15

    again = push_batch(params.model_copy(update={"batch_size": 100}), store=store, credentials=stack.label_studio())
    assert not again.resumed and again.imported == 15  # the pool excludes everything in the ledger
    in_label_studio = _project_item_ids(ls, spec)
    assert sorted(in_label_studio) == sorted(f"{spec.name}-{i:03d}" for i in range(50))


def _ready_events(dataset: str) -> list:  # type: ignore[type-arg]
    event_filter = EventFilter(
        event=EventNameFilter(name=[LABELS_READY]),
        resource=EventResourceFilter(id=[f"labelloop.project.{dataset}"]),
    )
    with get_client(sync_client=True) as client:
        return client.read_events(filter=event_filter, limit=50).events


def test_sync_resolves_votes_incrementally_and_announces_once(
    stack: Stack, prefect_server: str, ls: LabelStudio, spec: DatasetSpec, store: DataStore, project_cleanup: None
) -> None:
    push_batch(PushParams(dataset=spec, batch_size=8, strategy="random"), store=store, credentials=stack.label_studio())
    project = next(p for p in ls.projects.list(title=spec.name) if p.title == spec.name)
    tasks = {t.data["item_id"]: int(t.id) for t in ls.tasks.list(project=project.id, include="id,data")}
    items = sorted(tasks)
    config = build_label_config(spec.labels)
    a, b, c = ensure_team(ls, 3, prefix="synctest")

    # Item 0: 3 agree. Item 1: 2-1 majority. Item 2: a tie. Item 3: only a skip.
    # Item 4: labelled, later edited. Item 5: labelled, later deleted. Items 6-7: one bot team pass.
    for annotator in (a, b, c):
        vote(ls, config, tasks[items[0]], annotator, "positive")
    vote(ls, config, tasks[items[1]], a, "negative")
    vote(ls, config, tasks[items[1]], b, "negative")
    vote(ls, config, tasks[items[1]], c, "neutral")
    vote(ls, config, tasks[items[2]], a, "positive")
    vote(ls, config, tasks[items[2]], b, "negative")
    ls.annotations.create(id=tasks[items[3]], result=[], was_cancelled=True, completed_by=a)
    edited = vote(ls, config, tasks[items[4]], a, "neutral")
    deleted = vote(ls, config, tasks[items[5]], b, "positive")
    annotate(ls, config, {tasks[items[6]]: "negative", tasks[items[7]]: "neutral"}, [a, b], TeamConfig(accuracy=1.0, skip_rate=0.0))

    # No overlap window, so the second sync reads exactly what changed after the first.
    params = SyncParams(dataset=spec, ready_threshold=6, overlap_seconds=0)
    first = sync_labels(params, store=store, credentials=stack.label_studio())
    _, labels = read_latest_labels(store, spec.name)
    by_item = {label.item_id: label for label in labels}
    assert sorted(by_item) == sorted([items[0], items[1], items[4], items[5], items[6], items[7]])
    assert by_item[items[0]].label == "positive" and by_item[items[0]].agreement == 1.0
    assert by_item[items[1]].label == "negative" and by_item[items[1]].agreement == pytest.approx(2 / 3)
    assert sorted(by_item[items[1]].annotators) == sorted([a, b, c])
    assert first.unresolved == 1 and first.labels == 6 and first.announced

    relabel(ls, config, edited.annotation_id, "positive")
    ls.annotations.delete(id=deleted.annotation_id)
    second = sync_labels(params, store=store, credentials=stack.label_studio())
    _, labels = read_latest_labels(store, spec.name)
    by_item = {label.item_id: label for label in labels}
    assert by_item[items[4]].label == "positive"
    assert items[5] not in by_item
    assert (second.changed, second.withdrawn, second.labels) == (1, 1, 5)
    assert second.tasks_read == 2  # incremental: only the edited and the deleted task
    assert not second.announced  # 5 labels gained: below the threshold of 6

    third = sync_labels(params, store=store, credentials=stack.label_studio())
    assert third.labels_version == second.labels_version and not third.announced

    deadline = time.monotonic() + 20
    while len(events := _ready_events(spec.name)) < 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(events) == 1
    assert events[0].payload["labels_version"] == first.labels_version
    assert events[0].payload["gained"] == 6


def test_a_sync_before_the_first_push_creates_no_project_and_writes_nothing(
    stack: Stack, prefect_server: str, ls: LabelStudio, spec: DatasetSpec, store: DataStore, project_cleanup: None
) -> None:
    result = sync_labels(SyncParams(dataset=spec), store=store, credentials=stack.label_studio())
    assert (result.tasks_read, result.labels_version, result.announced) == (0, None, False)
    assert [p for p in ls.projects.list(title=spec.name) if p.title == spec.name] == []
    assert store.list_keys("labels/") == [] and store.list_keys("state/") == []


def _flagged_events(dataset: str) -> list:  # type: ignore[type-arg]
    event_filter = EventFilter(
        event=EventNameFilter(name=[ANNOTATOR_FLAGGED]),
        resource=EventResourceFilter(id=[f"labelloop.project.{dataset}"]),
    )
    with get_client(sync_client=True) as client:
        return client.read_events(filter=event_filter, limit=50).events


def test_three_uneven_bots_are_ranked_and_the_careless_one_is_flagged(
    stack: Stack, prefect_server: str, ls: LabelStudio, spec: DatasetSpec, store: DataStore, project_cleanup: None
) -> None:
    push_batch(PushParams(dataset=spec, batch_size=30, strategy="random"), store=store, credentials=stack.label_studio())
    project = next(p for p in ls.projects.list(title=spec.name) if p.title == spec.name)
    tasks = {t.data["item_id"]: int(t.id) for t in ls.tasks.list(project=project.id, include="id,data")}
    truth = {task_id: LABELS[int(item_id.rsplit("-", 1)[1]) % 3] for item_id, task_id in tasks.items()}
    config = build_label_config(spec.labels)
    team = ensure_team(ls, 3, prefix="qualitytest")
    behaviour = TeamConfig(annotators=3, per_task=3, accuracies=[1.0, 0.9, 0.2], skip_rate=0.0, seed=3)
    annotate(ls, config, truth, team, behaviour)

    result = sync_labels(SyncParams(dataset=spec, overlap_seconds=0), store=store, credentials=stack.label_studio())

    _, labels = read_latest_labels(store, spec.name)
    assert len(labels) >= 27 and all(len(label.annotator_votes) == 3 for label in labels)
    right = sum(label.label == truth[label.task_id] for label in labels)
    assert right >= len(labels) - 1
    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"annotators-{spec.name}"])), limit=1
        )
    rows = artifact.data if isinstance(artifact.data, list) else json.loads(str(artifact.data))
    # best estimated accuracy first; the careless bot last (the 0.9 bot may score 1.0 on
    # 30 items, a tie with the perfect one, in either order)
    accuracies = [float(row["accuracy"]) for row in rows]
    assert accuracies == sorted(accuracies, reverse=True), rows
    assert sorted(row["annotator"] for row in rows) == sorted(str(user) for user in team)
    assert rows[-1]["annotator"] == str(team[2]), rows
    assert accuracies[0] >= accuracies[1] > accuracies[2]
    assert result.flagged_annotators == [str(team[2])]
    deadline = time.monotonic() + 20
    while not (events := _flagged_events(spec.name)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [event.payload["annotator"] for event in events] == [str(team[2])]
