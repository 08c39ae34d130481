"""One run per stage and data set at a time; data sets never wait for each other.

A flow's exclusive section runs inside `dataset_slot(stage, dataset)`: it holds the one
slot of the Prefect global concurrency limit `labelloop-<stage>-<dataset>`, which is
created with limit 1 on first use (a limit changed in the UI is kept). Another run of the
same stage and data set waits for the slot; a run of another data set has its own limit.
The slot is held under a lease the run renews while it lives: released when the section
ends, and about `LEASE_SECONDS` after a run that crashed. A renewal that fails (the API
out of reach for a while) is logged and the run goes on: a long cleanse is not killed
by a blip. A sync session uses `try_dataset_slot`, which never waits. Works on any
Prefect API, the ephemeral one of `python flows/x.py` included.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from http import HTTPStatus
from typing import Any, Literal, get_args
from uuid import UUID

import httpx
from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import ConcurrencyLeaseHolder, StateType
from prefect.client.schemas.responses import ConcurrencyLimitWithLeaseResponse
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.runtime import flow_run
from pydantic import BaseModel

Stage = Literal["cleanse", "push", "sync", "retrain", "monitor", "refresh"]
"""The stages that run one at a time per data set."""

LEASE_SECONDS = 60.0
"""How long a crashed run holds its slot (the shortest lease Prefect's server grants)."""

POLL_SECONDS = 1.0
"""How often a waiting run reads whether its slot is free (a read, never a refused
attempt, which Prefect logs as an error)."""

WAIT_STEP_SECONDS = 30.0
"""How often a waiting run looks for the run holding its slot (and says so in its log)."""

ORPHAN_SECONDS = 2 * LEASE_SECONDS + WAIT_STEP_SECONDS
"""How long a slot may stay taken with no Running run labelled as its holder before a
waiting run frees it: longer than any lease of a crashed run lives."""


def slot_name(stage: Stage, dataset: str) -> str:
    """The global concurrency limit of a stage of a data set: `labelloop-<stage>-<dataset>`.

    Args:
        stage: the flow's stage.
        dataset: the data set's name (`specs.NAME_PATTERN`: a valid limit name).
    """
    return f"labelloop-{stage}-{dataset}"


def ensure_slot_limit(name: str) -> bool:
    """Create the global concurrency limit `name` with one slot unless it exists.

    Safe when runs race to create it: the server refuses the second create by name,
    which means the limit exists. An existing limit is left as it is.

    Args:
        name: the limit's name.

    Returns:
        Whether every slot of the limit was taken when it was read (False when created).
    """
    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
            return limit.active_slots >= limit.limit
        except ObjectNotFound:
            get_run_logger().info("Creating the concurrency limit %s (1 slot)", name)
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        except ObjectAlreadyExists:
            get_run_logger().debug("Concurrency limit %s was created by another run", name)
    return False


def delete_slot_limits(dataset: str) -> list[str]:
    """Delete the concurrency limits of every stage of a data set (those that exist).

    Returns:
        The names of the limits deleted.
    """
    deleted = []
    with get_client(sync_client=True) as client:
        for stage in get_args(Stage):
            try:
                client.delete_global_concurrency_limit_by_name(slot_name(stage, dataset))
            except ObjectNotFound:
                continue
            deleted.append(slot_name(stage, dataset))
    return deleted


def _holder() -> ConcurrencyLeaseHolder | None:
    """The flow run holding a slot (shown with the lease), when there is one."""
    run_id = flow_run.get_id()
    return ConcurrencyLeaseHolder(type="flow_run", id=UUID(run_id)) if run_id else None


@contextmanager
def dataset_slot(stage: Stage, dataset: str) -> Iterator[None]:
    """Hold the stage's slot of the data set for the `with` block, waiting for it if busy.

    The run holding the slot carries the label `labelloop.holds: <limit>` (shown on the
    run in the UI). While a run waits, every `WAIT_STEP_SECONDS` it looks for a Running
    run with that label; a slot that stays taken with none for `ORPHAN_SECONDS` (longer
    than a crashed run's lease lives) was never given back, and is freed with a warning.

    Args:
        stage: the flow's stage.
        dataset: the data set's name.

    Raises:
        ConcurrencySlotAcquisitionError: the Prefect API refused the slot (never for a
            missing limit: it is created first).
    """
    name = slot_name(stage, dataset)
    logger = get_run_logger()
    waiting = SlotWait()
    with ExitStack() as held:
        while True:
            if not ensure_slot_limit(name):  # free (or just created): try to take it
                lease = take_slot(name)
                if lease is not None:  # else taken by another run in between: wait on
                    held.enter_context(hold_lease(name, lease))
                    break
            now = time.monotonic()
            if waiting.due(now):
                holders = read_slot_holders(name)
                logger.info("Waiting for %s: %s", name, waiting.saw(holders, now))
                if waiting.orphaned(now):
                    free_orphaned_slot(name)
                    waiting = SlotWait()
            time.sleep(POLL_SECONDS)
        logger.info("Holding %s: no other %s run of %s runs now", name, stage, dataset)
        yield


def take_slot(name: str) -> UUID | None:
    """Take the one slot of the limit `name` under a lease of `LEASE_SECONDS`, now.

    It calls the API with a client of the current settings (not Prefect's `concurrency`,
    whose acquisition service is kept per process and keeps the API it first talked to:
    in a process that moves to another Prefect server, its slots were taken on one
    server and given back on the other, and stayed taken).

    Returns:
        The lease's id, or None when every slot is taken (HTTP 423 Locked).
    """
    with get_client(sync_client=True) as client:
        try:
            response = client.increment_concurrency_slots_with_lease(
                names=[name],
                slots=1,
                mode="concurrency",
                lease_duration=LEASE_SECONDS,
                holder=_holder(),
            )
        except httpx.HTTPStatusError as error:
            if error.response.status_code == HTTPStatus.LOCKED:
                return None
            raise
    granted = ConcurrencyLimitWithLeaseResponse.model_validate(response.json())
    if not granted.limits:
        raise ConcurrencySlotAcquisitionError(f"the concurrency limit {name} does not exist")
    return granted.lease_id


@contextmanager
def hold_lease(name: str, lease: UUID) -> Iterator[None]:
    """Keep the lease alive (renewed every `LEASE_SECONDS` * 0.5) for the `with` block,
    with the caller's run labelled as the slot's holder, then give its slot back. A
    renewal that fails is logged and the run goes on."""
    stop = threading.Event()
    renewer = threading.Thread(
        target=contextvars.copy_context().run,  # the caller's Prefect settings and run
        args=(_renew_until, name, lease, stop),
        daemon=True,
        name=f"labelloop-lease-{name}",
    )
    renewer.start()
    _label_own_run(name, held=True)
    try:
        yield
    finally:
        _label_own_run(name, held=False)
        stop.set()
        renewer.join(timeout=5)
        with get_client(sync_client=True) as client:
            client.release_concurrency_slots_with_lease(lease)


def _renew_until(name: str, lease: UUID, stop: threading.Event) -> None:
    while not stop.wait(LEASE_SECONDS * 0.5):
        try:
            with get_client(sync_client=True) as client:
                client.renew_concurrency_lease(lease, lease_duration=LEASE_SECONDS)
        except httpx.HTTPError as error:
            get_run_logger().warning("Could not renew the lease of %s: %s", name, error)


class SlotWait:
    """A run's wait for a taken slot: when to look for its holder again, and since when
    no running run has held it."""

    def __init__(self) -> None:
        self.next_look: float | None = None
        self.unheld_since: float | None = None

    def due(self, now: float) -> bool:
        """Whether it is time to look for the holder (at once, then every
        `WAIT_STEP_SECONDS`)."""
        return self.next_look is None or now >= self.next_look

    def saw(self, holders: list[RunningRun], now: float) -> str:
        """Record a look that found `holders`; what the waiting run says it waits for."""
        self.next_look = now + WAIT_STEP_SECONDS
        if holders:
            self.unheld_since = None
            return "held by " + ", ".join(f"{run.name} ({run.id})" for run in holders)
        if self.unheld_since is None:
            self.unheld_since = now
        return f"taken, but no running run holds it (for {now - self.unheld_since:.0f} s)"

    def orphaned(self, now: float) -> bool:
        """Whether no running run has held the slot for `ORPHAN_SECONDS`."""
        return self.unheld_since is not None and now - self.unheld_since >= ORPHAN_SECONDS


HOLDS_LABEL = "labelloop.holds"
"""The flow run label naming the slot a run holds (`released` once it gave it back)."""


def _label_own_run(name: str, held: bool) -> None:
    """Label the caller's run as holding the slot `name`, or as having released it. Best
    effort: a run whose label did not reach the server is only slower to be told apart
    from a lost release (`ORPHAN_SECONDS` of not finding it, each time)."""
    run_id = flow_run.get_id()
    if run_id is None:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run_labels(UUID(run_id), {HOLDS_LABEL: name if held else "released"})
    except httpx.HTTPError as error:
        get_run_logger().warning("Could not label this run as holding %s: %s", name, error)


def read_slot_holders(name: str) -> list[RunningRun]:
    """The Running flow runs labelled as holding the slot `name`, the caller's excluded."""
    return [run for run in _read_running(None) if run.labels.get(HOLDS_LABEL) == name]


def free_orphaned_slot(name: str) -> None:
    """Give back every slot of the limit `name`: called only when no run has held it for
    `ORPHAN_SECONDS` (a release that never reached the server)."""
    get_run_logger().warning(
        "%s stayed taken with no running run holding it for %.0f s: freeing its slot",
        name,
        ORPHAN_SECONDS,
    )
    with get_client(sync_client=True) as client:
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=0))


@asynccontextmanager
async def try_dataset_slot(stage: Stage, dataset: str) -> AsyncIterator[bool]:
    """Hold the stage's slot of the data set for the `async with` block if it is free now.

    Yields:
        True while the slot is held; False (nothing held) when another run holds it.

    Raises:
        httpx.HTTPStatusError: the Prefect API refused the slot for another reason.
    """
    name = slot_name(stage, dataset)
    lease = None if ensure_slot_limit(name) else take_slot(name)
    if lease is None:  # busy (read, or refused): another run holds it
        yield False
        return
    with hold_lease(name, lease):
        yield True


class RunningRun(BaseModel):
    """A flow run in the Running state, as a session or a waiting run looks for its peer."""

    id: UUID
    name: str
    started: dt.datetime | None
    parameters: dict[str, Any]
    labels: dict[str, Any] = {}


def read_running_runs(flow_name: str) -> list[RunningRun]:
    """Every Running run of the flow named `flow_name` except the caller's own.

    Args:
        flow_name: the flow's name (`@flow(name=...)`).
    """
    return _read_running(flow_name)


def _read_running(flow_name: str | None) -> list[RunningRun]:
    own = flow_run.get_id()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])) if flow_name else None,
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
            ),
        )
    return [
        RunningRun(
            id=r.id, name=r.name, started=r.start_time, parameters=r.parameters, labels=r.labels
        )
        for r in runs
        if str(r.id) != own
    ]
