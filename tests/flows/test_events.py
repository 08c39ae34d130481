from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)
from prefect.events.schemas.events import ReceivedEvent

from blocks import DataStore
from collection.sources import LocalSource
from flows.cleanse import CleanseParams, cleanse
from flows.collect import CollectParams, collect
from tests.flows.helpers import IRIS_SCHEMA, iris_frame


def _events(
    resource_id: str, name: str, expected: int, deadline_s: float = 30.0
) -> list[ReceivedEvent]:
    """Events of one resource from the server, polled until ``expected`` arrive."""
    event_filter = EventFilter(
        occurred=EventOccurredFilter(since=datetime.now(UTC) - timedelta(minutes=10)),
        event=EventNameFilter(name=[name]),
        resource=EventResourceFilter(id=[resource_id]),
    )
    stop = time.monotonic() + deadline_s
    found: list[ReceivedEvent] = []
    with get_client(sync_client=True) as client:
        while time.monotonic() < stop:
            found = client.read_events(filter=event_filter, limit=50).events
            if len(found) >= expected:
                return found
            time.sleep(0.5)
    return found


def test_collect_and_cleanse_announce_each_batch(tmp_path: Path) -> None:
    dataset = f"ev{uuid.uuid4().hex[:8]}"
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    iris_frame().to_csv(incoming / "a.csv", index=False)
    store = DataStore(base_path=str(tmp_path / "store"))
    collected = collect(
        CollectParams(dataset=dataset, sources=[LocalSource(path=str(incoming))], batch_rows=100),
        store=store,
    )
    cleansed = cleanse(CleanseParams(dataset=dataset, schema_path=IRIS_SCHEMA), store=store)

    resource = f"labelloop.dataset.{dataset}"
    got_collected = _events(resource, "labelloop.batch.collected", expected=2)
    assert sorted(
        (e.payload["batch_id"], e.payload["rows"]) for e in got_collected
    ) == sorted(zip(collected.new_batches, [100, 50], strict=True))
    got_cleansed = _events(resource, "labelloop.batch.cleansed", expected=2)
    by_batch = {e.payload["batch_id"]: e.payload for e in got_cleansed}
    for report in cleansed.batches:
        batch_id = report.source.rsplit("/", 1)[1].removesuffix(".parquet")
        payload = by_batch[batch_id]
        assert payload["rows"] == payload["clean"] + payload["quarantined"] + payload["duplicates"]
        assert (payload["clean"], payload["quarantined"]) == (report.clean, report.quarantined)
