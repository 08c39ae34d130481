"""The sync sees the trainings of its data set's labels, whatever the model is named.

Label Studio is replaced by a project that has no changed tasks: the labels versions
are written straight into the store, as a sync would have left them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from label_studio_sdk import LabelStudio
from prefect import task
from prefect.cache_policies import NO_CACHE

import flows.sync as sync_module
from annotation.config import build_label_config
from annotation.labels import vote_lists
from blocks import DataStore, LabelStudioCredentials
from flows.sync import SyncParams, SyncResult, sync_labels
from flows.train import TrainParams, retrain_model
from specs import resolve_spec
from tasks.label_studio import LSTask, ProjectConfig
from tasks.state import read_latest_version
from tests.flows.digits_store import label_records, write_digits, write_labels

THRESHOLD = 20


@task(cache_policy=NO_CACHE)
def _project(client: LabelStudio, title: str, control_name: str | None = None) -> ProjectConfig:
    config = build_label_config(resolve_spec(title).labels)
    return ProjectConfig(id=1, title=title, config=config)


@task(cache_policy=NO_CACHE)
def _no_changes(
    client: LabelStudio,
    project_id: int,
    watermark: dt.datetime | None,
    overlap_seconds: float = 30.0,
) -> list[LSTask]:
    return []


@pytest.fixture
def quiet_label_studio(monkeypatch: pytest.MonkeyPatch) -> LabelStudioCredentials:
    """A project that exists and whose tasks have not changed since the last sync."""
    monkeypatch.setattr(sync_module, "find_project", _project)
    monkeypatch.setattr(sync_module, "fetch_changed_tasks", _no_changes)
    return LabelStudioCredentials(url="http://127.0.0.1:9", api_key="unused")


@pytest.fixture
def digits(tmp_path: Path) -> tuple[DataStore, pd.DataFrame]:
    store = DataStore(base_path=str(tmp_path / "store"))
    return store, write_digits(store, n=400)


def _label(store: DataStore, clean: pd.DataFrame, version: str, n: int) -> None:
    rows = clean.iloc[:n]
    records = label_records(rows["item_id"].tolist(), rows["truth"].tolist())
    write_labels(store, version, [{**record, "reason": None} for record in records])


def _sync(store: DataStore, credentials: LabelStudioCredentials) -> SyncResult:
    params = SyncParams(dataset="digits", ready_threshold=THRESHOLD)
    return sync_labels(params, store=store, credentials=credentials)


def test_a_model_named_apart_from_its_data_set_resets_the_count_of_new_labels(
    digits, quiet_label_studio
) -> None:
    store, clean = digits
    _label(store, clean, "v1", 80)
    first = _sync(store, quiet_label_studio)
    assert (first.gained_since_training, first.announced) == (80, True)

    trained = retrain_model(TrainParams(model_name="digits-custom"), store=store)
    assert trained.labels_version == "v1"

    after = _sync(store, quiet_label_studio)
    assert (after.gained_since_training, after.announced) == (0, False)
    again = retrain_model(
        TrainParams(model_name="digits-custom", only_new_labels=True), store=store
    )
    assert again.status == "skipped", "this model already trained on these labels"

    _label(store, clean, "v2", 80 + THRESHOLD + 5)
    more = _sync(store, quiet_label_studio)
    assert more.gained_since_training == THRESHOLD + 5
    assert more.announced, "enough labels came since the training: the next retrain is due"


def test_after_a_training_the_champion_settles_ties_and_the_careless_annotator_is_flagged(
    digits, quiet_label_studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables: dict[str, list[dict[str, object]]] = {}
    real_table = sync_module.create_table_artifact

    def record_table(*, key: str, table: list[dict[str, object]], **kwargs: object) -> object:
        tables[key] = table
        return real_table(key=key, table=table, **kwargs)

    monkeypatch.setattr(sync_module, "create_table_artifact", record_table)
    store, clean = digits
    rows = clean.iloc[:160]
    items, truth = rows["item_id"].tolist(), [str(t) for t in rows["truth"]]
    records = label_records(items, truth)
    for n, record in enumerate(records):
        wrong = str((int(truth[n]) + 1) % 10)
        votes = {"1": truth[n], "2": truth[n]} if n < 150 else {"1": truth[n], "3": wrong}
        record.update(vote_lists(votes))
        record["votes"] = [f"{label}:1" for label in sorted(set(votes.values()))]
        if n >= 150:  # a 1-1 tie: the majority leaves it open
            record.update(label=None, status="unresolved", reason="tie")
    # a version id as the sync makes them (they sort by time)
    write_labels(store, "20240101T000000000000Z-v1", [{"reason": None, **record} for record in records])
    assert retrain_model(TrainParams(), store=store).status == "promoted"

    result = _sync(store, quiet_label_studio)

    _, frame = read_latest_version(store, "digits")
    ties = frame.set_index("item_id").loc[items[150:]]
    assert result.unresolved == 0
    assert ties["label"].tolist() == truth[150:]
    assert set(ties["method"]) == {"crowdlab"} and ties["majority_label"].isna().all()
    assert result.flagged_annotators == ["3"]
    # the annotator table shows each one over the versions: v1 (as written) then this one
    trend = {row["annotator"]: row["trend"] for row in tables["annotators-digits"]}
    assert trend == {"1": "██ 1.00 1.00", "2": "██ 1.00 1.00", "3": "·▁ - 0.00"}
