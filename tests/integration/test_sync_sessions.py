"""A sync session per data set, on the stack's Prefect server and Label Studio.

While a session of a data set runs: another project's `annotations.changed` event starts
no pass in it, a second run for the same data set ends at once naming the session, and a
session of another data set runs beside it. A slot held by no session (one crashed) is
waited for, not taken as a session.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import threading
import time

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.exceptions import ObjectNotFound

from annotation.config import DataKind, LabelSpec
from annotation.session import running_session
from flows.sync_session import SESSION_FLOW, SyncSessionParams, SyncSessionResult, sync_session
from learning.configs import FeatureSpec
from specs import DatasetSpec
from tasks.concurrency import dataset_slot, read_running_runs, slot_name
from tasks.events import ANNOTATIONS_CHANGED, project_resource
from tests.conftest import Stack

pytestmark = pytest.mark.integration


def _spec(name: str) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        schema_path="cleansing.schemas.TextSnippets",
        labels=LabelSpec(kind=DataKind.TEXT, labels=["a", "b"]),
        features=FeatureSpec(modality="text", text_column="text"),
        value_column="text",
    )


def _slot_held(dataset: str) -> bool:
    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(slot_name("sync", dataset))
        except ObjectNotFound:  # no session has run yet
            return False
    return limit.active_slots > 0


def _wait_until_held(dataset: str, deadline_s: float = 120) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if _slot_held(dataset):
            return True
        time.sleep(0.2)
    return False


def _remove_slots(*datasets: str) -> None:
    """Delete the test's data sets' sync limits (unique names, never used again)."""
    with get_client(sync_client=True) as client:
        for dataset in datasets:
            try:
                client.delete_global_concurrency_limit_by_name(slot_name("sync", dataset))
            except ObjectNotFound:  # no run got as far as creating it
                continue


def _session(dataset: DatasetSpec, quiet_seconds: float) -> SyncSessionResult:
    params = SyncSessionParams(dataset=dataset, quiet_seconds=quiet_seconds, store_block="local")
    return asyncio.run(sync_session(params))


def test_a_session_syncs_its_own_data_set_only_and_a_second_run_of_it_ends_at_once(
    stack: Stack, prefect_server: str, unique: str
) -> None:
    mine, other = _spec(f"{unique}-a"), _spec(f"{unique}-b")
    results: dict[str, SyncSessionResult] = {}
    context = contextvars.copy_context()  # the stack's Prefect API, in the thread too
    first = threading.Thread(
        target=context.run,
        args=(lambda: results.update(first=_session(mine, quiet_seconds=20)),),
        daemon=True,
    )
    first.start()
    try:
        assert _wait_until_held(mine.name), "the first session never held its slot"
        emit_event(
            event=ANNOTATIONS_CHANGED,
            resource=project_resource("iris"),
            payload={"action": "ANNOTATION_CREATED"},
        )

        second = _session(mine, quiet_seconds=0)
        beside = _session(other, quiet_seconds=0)
        still_running = _slot_held(mine.name)
    finally:
        first.join(300)
        released = not _slot_held(mine.name)
        _remove_slots(mine.name, other.name)

    assert second.passes == [] and second.deferred is not None
    assert second.deferred.startswith(f"{mine.name}: the session started at "), second.deferred
    assert [p.project for p in beside.passes] == [other.name] and beside.deferred is None
    assert beside.passes[0].error is None
    assert still_running, "the first session had ended before the other data set's ran"
    # The iris event and the second run started no pass in the first session.
    assert [p.project for p in results["first"].passes] == [mine.name]
    assert released, "the first session kept its slot after it ended"


RELEASED: dict[str, dt.datetime] = {}


@flow(name="hold-sync-slot")
def hold_until_a_session_waits(dataset: str) -> None:
    """Hold the data set's sync slot, as a crashed session's lease does, until a session
    of the data set is running (and a little longer), then give it back."""
    with dataset_slot("sync", dataset):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = read_running_runs(SESSION_FLOW)
            if running_session(dataset, ((r.name, r.started, r.parameters) for r in runs)):
                break
            time.sleep(0.2)
        time.sleep(3)  # the session tries the slot meanwhile
        RELEASED[dataset] = dt.datetime.now(dt.UTC)


def test_a_slot_held_by_no_running_session_is_waited_for(
    stack: Stack, prefect_server: str, unique: str
) -> None:
    mine = _spec(unique)
    context = contextvars.copy_context()
    holder = threading.Thread(
        target=context.run, args=(lambda: hold_until_a_session_waits(mine.name),)
    )
    holder.start()
    try:
        assert _wait_until_held(mine.name), "the holder never held the slot"
        result = _session(mine, quiet_seconds=0)
    finally:
        holder.join(300)
        _remove_slots(mine.name)

    assert result.deferred is None
    assert [p.project for p in result.passes] == [mine.name] and result.passes[0].error is None
    assert result.passes[0].started > RELEASED[mine.name]
