"""A project title that names no data set fails alone: the running sync session goes on.

Against the stack's Prefect server: events naming hostile projects are stored, a sync
session starts and syncs its own data set only; nothing is imported.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)

from annotation.config import DataKind, LabelSpec
from flows.sync_session import SyncSessionParams, sync_session
from learning.configs import FeatureSpec
from specs import DatasetSpec
from tasks.events import ANNOTATIONS_CHANGED, project_resource
from tests.conftest import Stack
from tests.hostile.names import TRIPWIRE, forget_imports, imported

pytestmark = pytest.mark.integration


def _stored(names: list[str], since: dt.datetime, deadline_s: float = 8) -> int:
    """How many events naming these projects the server stored since `since` (an earlier
    run of this test stored some of the same names)."""
    ids = [project_resource(name)["prefect.resource.id"] for name in names]
    selection = EventFilter(
        event=EventNameFilter(name=[ANNOTATIONS_CHANGED]),
        resource=EventResourceFilter(id=ids),
        occurred=EventOccurredFilter(since=since),
    )
    deadline = time.monotonic() + deadline_s
    with get_client(sync_client=True) as client:
        while True:
            found = len(client.read_events(filter=selection, limit=50).events)
            if found >= len(names) or time.monotonic() > deadline:
                return found


def test_unknown_titles_are_left_alone_and_the_session_syncs_its_project(
    stack: Stack, prefect_server: str, unique: str
) -> None:
    forget_imports()
    since = dt.datetime.now(dt.UTC)
    hostile = ["this:s", f"{TRIPWIRE}:SPEC", f"{unique}-renamed"]
    for name in hostile:
        emit_event(event=ANNOTATIONS_CHANGED, resource=project_resource(name), payload={"action": "ANNOTATION_CREATED"})
    assert _stored(hostile, since) == len(hostile)
    spec = DatasetSpec(
        name=unique,
        schema_path="cleansing.schemas.TextSnippets",
        labels=LabelSpec(kind=DataKind.TEXT, labels=["a", "b"]),
        features=FeatureSpec(modality="text", text_column="text"),
        value_column="text",
    )

    result = asyncio.run(sync_session(SyncSessionParams(dataset=spec, quiet_seconds=0, store_block="local")))

    mine = [p for p in result.passes if p.project == unique]
    assert len(mine) == 1 and mine[0].error is None and mine[0].result is not None
    assert not [p for p in result.passes if p.project in hostile]
    assert imported() == []


def test_a_session_started_for_an_unknown_project_reports_it_and_does_not_fail(
    stack: Stack, prefect_server: str, unique: str
) -> None:
    """The trigger passes the event's project as `dataset`: a well-formed name that no
    data set has (a renamed project, the receiver's numeric fallback) is ignored like any
    other unknown project, and the run completes."""
    for name in (f"{unique}-renamed", "123"):
        result = asyncio.run(
            sync_session(SyncSessionParams(dataset=name, quiet_seconds=0, store_block="local"))
        )
        assert name in result.ignored
        assert not [p for p in result.passes if p.project == name]
