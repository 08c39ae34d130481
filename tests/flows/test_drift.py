"""Drift monitoring through the real flows: train a champion (its profile is saved), collect
and cleanse new digits, and see the drift report and `labelloop.data.drifted`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.testing.utilities import prefect_test_harness

import tasks.monitoring as monitoring_tasks
from blocks import DataStore
from collection.sources import LocalSource
from flows.cleanse import CleanseParams, DriftMonitoring, cleanse
from flows.collect import CollectParams, collect
from flows.train import TrainParams, retrain_model
from monitoring.profile import DriftRecord, ReferenceProfile
from storage.layout import drift_report_key, profile_key
from tasks.cleanse import batch_artifact_key
from tasks.events import DATA_DRIFTED
from tasks.registry import list_history
from tests.flows.digits_store import (
    label_records,
    new_digit_pngs,
    split_digits,
    write_digits,
    write_labels,
)

TRAINED = 1000  # a random 1,000 digits are labelled; the others are new to the champion


@pytest.fixture(scope="module", autouse=True)
def harness() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, np.ndarray]:
    """A store whose digits champion was trained by the retrain flow, and the unseen digits."""
    root = tmp_path_factory.mktemp("drift")
    store = DataStore(base_path=str(root))
    rows, unseen = split_digits(write_digits(store), TRAINED)
    write_labels(store, "v1", label_records(rows["item_id"].tolist(), rows["truth"].tolist()))
    result = retrain_model(TrainParams(reason="drift test"), store=store)
    assert result.status == "promoted"
    return root, str(result.version), unseen


@pytest.fixture
def store(trained: tuple[Path, str, np.ndarray], tmp_path: Path) -> DataStore:
    root, _, _ = trained
    source = DataStore(base_path=str(root))
    target = DataStore(base_path=str(tmp_path / "store"))
    for key in source.list_keys():
        target.write_bytes(key, source.read_bytes(key))
    return target


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    real = monitoring_tasks.announce

    def record(event: str, resource: dict[str, str], payload: dict[str, Any]) -> Any:
        sent.append({"event": event, "resource": resource, "payload": payload})
        return real(event, resource, payload)

    monkeypatch.setattr(monitoring_tasks, "announce", record)
    return sent


@pytest.fixture
def new_digits(trained: tuple[Path, str, np.ndarray], tmp_path: Path) -> Callable[..., Path]:
    """A folder of PNGs of digits the champion never saw (see `new_digit_pngs`)."""
    _, _, unseen = trained

    def make(*, shifted: bool, seed: int = 0) -> Path:
        return new_digit_pngs(
            tmp_path / f"new-{shifted}-{seed}", unseen, shifted=shifted, seed=seed
        )

    return make


def _collect_and_cleanse(store: DataStore, folder: Path, **drift: Any):  # type: ignore[no-untyped-def]
    collect(CollectParams(dataset="digits", sources=[LocalSource(path=str(folder))]), store=store)
    return cleanse(CleanseParams(dataset="digits", drift=DriftMonitoring(**drift)), store=store)


def _batch_artifact(batch_id: str) -> str:
    """The markdown of a cleansed batch's artifact (its latest version)."""
    with get_client(sync_client=True) as client:
        [artifact] = client.read_latest_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[batch_artifact_key("digits", batch_id)])
            )
        )
    return str(artifact.data)


def test_training_saves_the_reference_profile(store: DataStore, trained) -> None:
    _, version, _ = trained
    profile = ReferenceProfile.model_validate_json(store.read_bytes(profile_key("digits", version)))
    assert profile.n_rows == TRAINED
    assert len(profile.columns) == 64 and set(profile.columns.values()) == {"numeric"}
    assert profile.predictions is not None
    assert profile.predictions.classes == [str(d) for d in range(10)]
    assert profile.predictions.class_mix.n == TRAINED // 5  # out-of-fold: the holdout
    # how often the champion was right by confidence, on the same evaluated rows: the
    # bins add up to its holdout accuracy, and it is surer where it is right
    bins = profile.predictions.reliability
    assert sum(b.n for b in bins) == TRAINED // 5
    card = list_history(store, "digits")[-1]
    assert sum(b.correct for b in bins) / (TRAINED // 5) == pytest.approx(card.metrics.accuracy)
    assert [b.upper for b in bins] == sorted(b.upper for b in bins)
    assert bins[0].correct / bins[0].n < bins[-1].correct / bins[-1].n


def test_a_shifted_batch_emits_data_drifted(store: DataStore, trained, events, new_digits) -> None:
    _, version, _ = trained
    result = _collect_and_cleanse(store, new_digits(shifted=True))
    assert result.total.clean == 300
    [drift] = result.drift
    assert drift.checked and drift.drifted and drift.model_version == version
    assert drift.event_id is not None

    [event] = events
    assert event["event"] == DATA_DRIFTED == "labelloop.data.drifted"
    assert event["resource"]["prefect.resource.id"] == "labelloop.dataset.digits"
    payload = event["payload"]
    assert payload["batch_id"] == drift.batch_id and payload["rows"] == 300
    assert payload["model_version"] == version
    assert payload["drifted_columns"] == drift.drifted_columns
    assert len(payload["drifted_columns"]) >= 5
    assert all(c.startswith("pixel_") or c == "prediction" for c in payload["drifted_columns"])
    for column in payload["drifted_columns"]:
        assert payload["columns"][column]["psi"] >= 0.2

    record = DriftRecord.model_validate_json(
        store.read_bytes(drift_report_key("digits", drift.batch_id))
    )
    assert payload["report_key"] == drift_report_key("digits", drift.batch_id)
    assert record.model_version == version and record.report.drifted
    assert record.report.drifted_columns == drift.drifted_columns

    # A person reads the batch's counts and its drift table in the batch's artifact.
    shown = _batch_artifact(drift.batch_id)
    assert "| clean | 300 |" in shown
    assert "# Drift report: **drifted**" in shown and f"champion digits {version}" in shown
    assert any(f"| {column} |" in shown for column in drift.drifted_columns)


def test_an_unshifted_batch_emits_nothing(store: DataStore, events, new_digits) -> None:
    result = _collect_and_cleanse(store, new_digits(shifted=False, seed=1))
    [drift] = result.drift
    assert drift.checked and not drift.drifted
    assert drift.event_id is None and events == []
    record = DriftRecord.model_validate_json(store.read_bytes(drift.report_key))
    assert len(record.report.features) == 66  # 64 pixels, the predicted class and confidence
    assert not record.report.drifted


def test_a_champion_without_profile_gives_a_clear_message_and_no_event(
    store: DataStore, trained, events, new_digits
) -> None:
    _, version, _ = trained
    store.delete(profile_key("digits", version))  # as if trained before drift monitoring
    result = _collect_and_cleanse(store, new_digits(shifted=True))
    assert result.total.clean == 300  # the cleanse itself is untouched
    [drift] = result.drift
    assert not drift.checked and not drift.drifted and events == []
    [message] = drift.messages
    assert f"champion digits {version} has no reference profile" in message
    record = DriftRecord.model_validate_json(store.read_bytes(drift.report_key))
    assert record.report.messages == [message]


def test_monitoring_off_checks_nothing(store: DataStore, events, new_digits) -> None:
    result = _collect_and_cleanse(store, new_digits(shifted=True), enabled=False)
    assert result.total.clean == 300 and result.drift == [] and events == []
    assert store.list_keys("monitoring/") == []
    [batch] = result.batches
    batch_id = batch.source.rsplit("/", 1)[1].removesuffix(".parquet")
    shown = _batch_artifact(batch_id)
    assert "| clean | 300 |" in shown and "Drift report" not in shown
