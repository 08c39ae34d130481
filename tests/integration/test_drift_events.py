"""Drift on the real Prefect server: a shifted batch's `labelloop.data.drifted` event arrives
at the stack's server with its payload; an unshifted batch sends none."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.schemas.events import ReceivedEvent

from blocks import DataStore
from collection.sources import LocalSource
from flows.cleanse import CleanseParams, CleanseResult, cleanse
from flows.collect import CollectParams, collect
from flows.train import TrainParams, retrain_model
from specs import DIGITS, DatasetSpec
from tasks.events import BATCH_CLEANSED, DATA_DRIFTED
from tasks.monitoring import DriftMonitoring
from tests.conftest import Stack
from tests.flows.digits_store import (
    label_records,
    new_digit_pngs,
    split_digits,
    write_digits,
    write_labels,
)

pytestmark = pytest.mark.integration

TRAINED = 800


def _events(name: str, dataset: str, count: int, deadline_s: float = 30) -> list[ReceivedEvent]:
    """The data set's events of one name on the server, polled until `count` arrived."""
    event_filter = EventFilter(
        event=EventNameFilter(name=[name]),
        resource=EventResourceFilter(id=[f"labelloop.dataset.{dataset}"]),
    )
    deadline = time.monotonic() + deadline_s
    with get_client(sync_client=True) as client:
        while True:
            # The server refuses read_events' default limit of 100.
            events = client.read_events(filter=event_filter, limit=50).events
            if len(events) >= count or time.monotonic() > deadline:
                return events
            time.sleep(0.5)


def _collect_and_cleanse(store: DataStore, spec: DatasetSpec, folder: Path) -> CleanseResult:
    collect(CollectParams(dataset=spec.name, sources=[LocalSource(path=str(folder))]), store=store)
    return cleanse(
        CleanseParams(
            dataset=spec.name,
            schema_path=spec.schema_path,
            drift=DriftMonitoring(dataset_spec=spec),
        ),
        store=store,
    )


def test_drifted_event_reaches_the_server_with_its_payload(
    stack: Stack, prefect_server: str, unique: str, tmp_path: Path
) -> None:
    spec = DIGITS.model_copy(update={"name": unique})
    store = DataStore(base_path=str(tmp_path / "store"))
    rows, unseen = split_digits(write_digits(store, dataset=unique), TRAINED)
    records = label_records(rows["item_id"].tolist(), rows["truth"].tolist())
    write_labels(store, "v1", records, dataset=unique)
    trained = retrain_model(TrainParams(dataset=spec), store=store)
    assert trained.status == "promoted"

    calm = _collect_and_cleanse(
        store, spec, new_digit_pngs(tmp_path / "calm", unseen, shifted=False)
    )
    shifted = _collect_and_cleanse(
        store, spec, new_digit_pngs(tmp_path / "shifted", unseen, shifted=True)
    )
    [calm_drift], [drift] = calm.drift, shifted.drift
    assert calm_drift.checked and not calm_drift.drifted
    assert drift.drifted and drift.event_id is not None

    [event] = _events(DATA_DRIFTED, unique, count=1)
    assert str(event.id) == drift.event_id
    assert event.resource.id == f"labelloop.dataset.{unique}"
    assert event.resource["prefect.resource.name"] == unique
    payload = event.payload
    assert payload["batch_id"] == drift.batch_id and payload["rows"] == 300
    assert payload["model_version"] == trained.version
    assert payload["drifted_columns"] == drift.drifted_columns
    assert set(payload["columns"]) == set(drift.drifted_columns)
    assert all(c["psi"] >= payload["psi_threshold"] for c in payload["columns"].values())
    assert payload["report_key"] == drift.report_key and store.exists(drift.report_key)
    # Both batches were announced as cleansed; only the shifted one as drifted.
    cleansed = _events(BATCH_CLEANSED, unique, count=2)
    assert {e.payload["batch_id"] for e in cleansed} == {calm_drift.batch_id, drift.batch_id}
    assert [
        e.payload["batch_id"] for e in _events(DATA_DRIFTED, unique, count=2, deadline_s=3)
    ] == [drift.batch_id]
