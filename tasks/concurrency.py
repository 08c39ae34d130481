"""One run per stage and data set at a time; data sets never wait for each other.

The sync session holds its data set's slot with `try_dataset_slot` (it never waits).
`dataset_slot` is the waiting form, built for the other stages but not used by them yet
(see docs/operating.md, "Known limits": a release was sometimes lost in the flow tests).

A section run inside `dataset_slot(stage, dataset)` holds the one
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

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from http import HTTPStatus
from typing import Any, Literal
from uuid import UUID

import httpx
from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import ConcurrencyLeaseHolder, StateType
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.asyncio import concurrency as aconcurrency
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.runtime import flow_run
from pydantic import BaseModel

Stage = Literal["cleanse", "push", "sync", "retrain", "monitor", "refresh"]
"""The stages that run one at a time per data set."""

LEASE_SECONDS = 60.0
"""How long a crashed run holds its slot (the shortest lease Prefect's server grants)."""


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


def _holder() -> ConcurrencyLeaseHolder | None:
    """The flow run holding a slot (shown with the lease), when there is one."""
    run_id = flow_run.get_id()
    return ConcurrencyLeaseHolder(type="flow_run", id=UUID(run_id)) if run_id else None


@contextmanager
def dataset_slot(stage: Stage, dataset: str) -> Iterator[None]:
    """Hold the stage's slot of the data set for the `with` block, waiting for it if busy.

    Args:
        stage: the flow's stage.
        dataset: the data set's name.

    Raises:
        ConcurrencySlotAcquisitionError: the Prefect API refused the slot (never for a
            missing limit: it is created first).
    """
    name = slot_name(stage, dataset)
    ensure_slot_limit(name)
    with concurrency(
        name,
        occupy=1,
        strict=True,
        lease_duration=LEASE_SECONDS,
        holder=_holder(),
        raise_on_lease_renewal_failure=False,
    ):
        get_run_logger().info("Holding %s: no other %s run of %s runs now", name, stage, dataset)
        yield


def _busy(error: ConcurrencySlotAcquisitionError) -> bool:
    """Whether an acquisition failed because every slot is taken (HTTP 423 Locked)."""
    cause = error.__cause__
    return (
        isinstance(cause, httpx.HTTPStatusError)
        and cause.response.status_code == HTTPStatus.LOCKED
    )


@asynccontextmanager
async def try_dataset_slot(stage: Stage, dataset: str) -> AsyncIterator[bool]:
    """Hold the stage's slot of the data set for the `async with` block if it is free now.

    Yields:
        True while the slot is held; False (nothing held) when another run holds it.

    Raises:
        ConcurrencySlotAcquisitionError: the Prefect API refused the slot for another reason.
    """
    name = slot_name(stage, dataset)
    if ensure_slot_limit(name):  # busy: not even an attempt (a refused one logs an error)
        yield False
        return
    async with AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(
                aconcurrency(
                    name,
                    occupy=1,
                    max_retries=0,
                    strict=True,
                    lease_duration=LEASE_SECONDS,
                    holder=_holder(),
                    raise_on_lease_renewal_failure=False,
                )
            )
        except ConcurrencySlotAcquisitionError as error:
            if not _busy(error):
                raise
            held = False
        else:
            held = True
        yield held


class RunningRun(BaseModel):
    """A flow run in the Running state, as a session looks for its peer."""

    id: UUID
    name: str
    started: dt.datetime | None
    parameters: dict[str, Any]


def read_running_runs(flow_name: str) -> list[RunningRun]:
    """Every Running run of the flow named `flow_name` except the caller's own.

    Args:
        flow_name: the flow's name (`@flow(name=...)`).
    """
    own = flow_run.get_id()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
            ),
        )
    return [
        RunningRun(id=r.id, name=r.name, started=r.start_time, parameters=r.parameters)
        for r in runs
        if str(r.id) != own
    ]
