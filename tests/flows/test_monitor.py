"""The monitor flow under a temporary Prefect server: live accuracy, degraded events, disputes."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

import flows.monitor as monitor_module
from blocks import DataStore
from flows.monitor import MonitorParams, MonitorResult, monitor_model
from flows.train import TrainParams, retrain_model
from monitoring.decisions import DisputedLabel, LiveAccuracySeries
from monitoring.review import ReviewLedger, plan_reviews
from storage.layout import (
    disputed_labels_key,
    live_accuracy_key,
    profile_key,
    review_ledger_key,
)
from tasks.events import MODEL_DEGRADED
from tests.flows.digits_store import label_records, write_digits, write_labels


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("digits")
    clean = write_digits(DataStore(base_path=str(root)))
    return root, clean


@pytest.fixture
def store(digits_dir, tmp_path: Path) -> DataStore:
    root, _ = digits_dir
    target = DataStore(base_path=str(tmp_path / "store"))
    source = DataStore(base_path=str(root))
    for key in source.list_keys():
        target.write_bytes(key, source.read_bytes(key))
    return target


@pytest.fixture
def clean(digits_dir) -> pd.DataFrame:
    return digits_dir[1]


@pytest.fixture
def model() -> str:
    """A model name no other test uses (artifact keys and event resources carry it)."""
    return f"m{uuid.uuid4().hex[:8]}"


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    real = monitor_module.announce

    def record(event: str, resource: dict[str, str], payload: dict[str, Any]) -> Any:
        sent.append({"event": event, "resource": resource, "payload": payload})
        return real(event, resource, payload)

    monkeypatch.setattr(monitor_module, "announce", record)
    return sent


def _flipped(truth: str) -> str:
    return str((int(truth) + 1) % 10)


def _write(store: DataStore, version: str, rows: pd.DataFrame, labels: list[str]) -> None:
    write_labels(store, version, label_records(rows["item_id"].tolist(), labels))


def _champion(store: DataStore, clean: pd.DataFrame, model: str) -> str:
    """A champion trained on the first 300 digits, correctly labelled (labels version v1)."""
    rows = clean.iloc[:300]
    _write(store, "v1", rows, rows["truth"].tolist())
    trained = retrain_model(TrainParams(model_name=model), store=store)
    assert trained.status == "promoted"
    return str(trained.version)


def _monitor(store: DataStore, model: str, **params: Any) -> tuple[MonitorResult, dict[str, str]]:
    """Run the flow; return its result and its markdown artifacts by key."""
    state = monitor_model(
        MonitorParams(model_name=model, margin=0.15, **params), store=store, return_state=True
    )
    result = state.result()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    return result, {str(a.key): str(a.data) for a in artifacts}


def _series(store: DataStore, model: str) -> LiveAccuracySeries:
    return LiveAccuracySeries.model_validate(store.read_json(live_accuracy_key(model)))


def test_a_healthy_champion_gets_a_point_per_labels_version_and_no_event(
    store, clean, model, events
) -> None:
    version = _champion(store, clean, model)
    if store.exists(profile_key(model, version)):  # a champion trained before drift profiles
        store.delete(profile_key(model, version))
    rows = clean.iloc[:500]
    _write(store, "v2", rows, rows["truth"].tolist())

    result, artifacts = _monitor(store, model)
    assert (result.status, result.model_version, result.labels_version) == ("scored", version, "v2")
    assert result.live.n == 200  # the 200 labelled items the champion never trained on
    assert result.live.accuracy > result.holdout_accuracy - 0.15
    assert not result.degraded and not result.announced and events == []
    assert len(result.live.per_class) == 10

    again, _ = _monitor(store, model)
    assert again.live.accuracy == result.live.accuracy and events == []
    assert [(p.labels_version, p.n) for p in _series(store, model).points] == [("v2", 200)]

    report = artifacts[f"{model}-live-accuracy"]
    assert "on 200 labelled items it never trained on" in report
    assert "**not degraded**" in report and "| v2 |" in report
    assert store.exists(disputed_labels_key("digits", "v2"))


def test_a_degraded_champion_is_announced_once_and_its_disputes_recorded(
    store, clean, model, events
) -> None:
    version = _champion(store, clean, model)
    rows = clean.iloc[:500]
    truth = rows["truth"].tolist()
    flipped = set(rows["item_id"].iloc[300::2])  # half of the new items mislabelled
    labels = [_flipped(t) if i in flipped else t for i, t in zip(rows["item_id"], truth)]
    _write(store, "v3", rows, labels)

    result, artifacts = _monitor(store, model)
    assert result.degraded and result.announced
    assert result.live.accuracy < result.holdout_accuracy - 0.15
    low, high = result.live.accuracy_interval
    assert high < result.holdout_accuracy - 0.15 and low > 0.1  # clear of chance (10 classes)
    (event,) = events
    assert event["event"] == MODEL_DEGRADED
    assert event["resource"]["prefect.resource.id"] == f"labelloop.model.{model}"
    payload = event["payload"]
    assert (payload["dataset"], payload["model_version"], payload["labels_version"]) == (
        "digits",
        version,
        "v3",
    )
    assert f"live accuracy {result.live.accuracy:.3f}" in payload["reason"]
    assert f"holdout {result.holdout_accuracy:.3f}" in payload["reason"]

    # The disputes are the mislabelled items: the champion knows the true digit.
    disputes = store.read_parquet(disputed_labels_key("digits", "v3"))
    assert result.disputed == len(disputes) >= 20
    assert set(disputes["item_id"]) <= flipped
    by_item = dict(zip(rows["item_id"], truth, strict=True))
    assert all(by_item[i] == m for i, m in zip(disputes["item_id"], disputes["disputed_by"]))
    assert disputes["disputed"].all() and (disputes["dispute_probability"] >= 0.9).all()
    listing = artifacts["digits-disputed-labels"]
    first = disputes.iloc[0]
    assert f"| {first['item_id']} | {first['task_id']} | {first['label']} |" in listing
    assert "**DEGRADED**" in artifacts[f"{model}-live-accuracy"]

    rerun, _ = _monitor(store, model)
    assert rerun.degraded and not rerun.announced and len(events) == 1
    assert len(_series(store, model).points) == 1


def test_no_unseen_items_and_no_champion_are_messages_not_failures(
    store, clean, model, events
) -> None:
    nothing, _ = _monitor(store, model)
    assert nothing.status == "no_champion" and "has no champion yet" in nothing.message

    _champion(store, clean, model)
    result, artifacts = _monitor(store, model)  # v1: every label was trained on
    assert result.status == "no_unseen_items"
    assert "no items the champion was not trained on (all 300" in result.message
    assert (result.live.n, result.degraded, result.disputed) == (0, False, 0)
    assert events == []
    assert "nothing to score" in artifacts[f"{model}-live-accuracy"]
    assert [p.n for p in _series(store, model).points] == [0]


def test_training_leaves_out_disputed_items_until_reviewed(store, clean, model) -> None:
    _champion(store, clean, model)
    rows = clean.iloc[:400]
    _write(store, "v2", rows, rows["truth"].tolist())
    ledger = ReviewLedger(project="digits")
    labels = store.read_parquet("labels/digits/v2.parquet")
    disputes = [
        DisputedLabel(
            item_id=i, label=t, model_label=_flipped(t), model_probability=0.95, label_probability=0
        )
        for i, t in zip(rows["item_id"].iloc[300:310], rows["truth"].iloc[300:310], strict=True)
    ]
    ledger = ledger.with_requests(
        plan_reviews(
            disputes,
            labels,
            ledger,
            labels_version="v2",
            model_version=None,
            now=dt.datetime.now(dt.UTC),
        )
    )
    store.replace_json(review_ledger_key("digits"), ledger.model_dump(mode="json"))

    held = retrain_model(TrainParams(model_name=model), store=store)
    assert (held.held_for_review, held.used) == (10, 390)
    both = retrain_model(TrainParams(model_name=model, hold_disputed=False), store=store)
    assert (both.held_for_review, both.used) == (0, 400)
