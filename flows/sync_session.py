"""Sync labels while people annotate: one run that each webhook wakes, until a quiet spell.

    python flows/sync_session.py --dataset digits --quiet-seconds 30

Starting a flow run costs a process and a round of the server's automation, queue and
state changes (seconds on a busy machine; with a worker, also the imports), and Label
Studio sends one webhook per annotation. So the `sync` deployment runs this flow: it
syncs its data set's project at once, then stays subscribed to that project's
`labelloop.annotations.changed` events and syncs it again, in the same process, within a
fraction of a second of each webhook. It ends after `quiet_seconds` without an event.

One session per data set: a session holds its data set's slot (`tasks.concurrency`,
limit `labelloop-sync-<dataset>`) while it lives, and reads only its own project's events,
so another data set's webhooks neither wake it nor fail it, and sessions of different
data sets run side by side. A run started while its data set's session lives ends at
once, Completed, its message naming that session, which reads the run's changes. A run
that finds the slot held by no running session (one crashed: its lease lasts a minute)
waits for the slot and becomes the session.

A run started for a name that is neither registered nor shipped (`resolve_dataset`) is
reported and completes: it makes no pass, so it neither fails nor reaches any import.

A pass that fails (Label Studio unreachable, say) leaves the project's changes due: the
next look tries again, up to MAX_FAILED_PASSES (3) passes per session.

Before ending (still holding the slot), the session reads the project's events that the
server stored since the run was created, and syncs again if a pass has not read one (an
event can reach the store seconds after it happened, too late for the live stream's
replay). A change that lands after that last look, while the run is finishing, is read
by the next webhook's run or by the scheduled sync.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from prefect import State, flow, get_run_logger
from prefect.events.clients import PrefectEventSubscriber
from prefect.runtime import flow_run
from prefect.states import Completed
from pydantic import BaseModel, Field

from annotation.session import (
    ProjectChange,
    deferred_message,
    projects_to_sync,
    quiet_deadline,
    running_session,
    split_known,
)
from flows.cli import DATASET, run_flow_script
from flows.sync import SyncParams, SyncResult, sync_labels
from specs import DatasetName, DatasetSpec, SpecError
from tasks.changes import change_of, read_annotation_changes, subscribe_annotation_changes
from tasks.concurrency import LEASE_SECONDS, read_running_runs, try_dataset_slot
from tasks.datasets import DatasetRuns, arun_for_each_registered, resolve_dataset

# How far before the run's creation the stored events are read: the triggering webhook
# happened a moment before the trigger created the run.
LOOKBACK = dt.timedelta(seconds=10)
# Events that arrive together (a burst of webhooks) are merged into one pass: gather
# those less than COALESCE_SECONDS apart, for at most COALESCE_MAX_SECONDS.
COALESCE_SECONDS = 0.2
COALESCE_MAX_SECONDS = 1.0
# The server stores an event within seconds of receiving it; a look at the stored
# events goes back this far before the previous look.
STORE_DELAY = dt.timedelta(seconds=60)
# A project whose pass failed this often in a session is left to the next run.
MAX_FAILED_PASSES = 3
SESSION_FLOW = "sync-labels-session"
# A run that finds its data set's slot held by no running session (one crashed) waits
# this long for the lease to expire (the server revokes expired leases every 15 s),
# trying every SLOT_POLL_SECONDS.
SLOT_WAIT_SECONDS = 2 * LEASE_SECONDS
SLOT_POLL_SECONDS = 2.0


class SyncSessionParams(SyncParams):
    """Parameters of a sync session: the sync's own, plus how long to stay."""

    dataset: DatasetName | DatasetSpec | None = Field(  # type: ignore[assignment]
        default=None,
        description="The data set whose project this session syncs (a registered or shipped "
        "name, or a whole spec); None: one pass of every registered data set, each its own run.",
    )
    quiet_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description=(
            "Keep syncing while annotations keep coming; end after this long without a "
            "labelloop.annotations.changed event (0: one pass, then end)."
        ),
    )


class SessionPass(BaseModel):
    """One sync pass of the session."""

    project: str
    started: dt.datetime
    result: SyncResult | None = None
    error: str | None = None


class SyncSessionResult(BaseModel):
    """What a session did."""

    passes: list[SessionPass]
    ignored: list[str] = Field(
        default_factory=list,
        description="Projects this session does not sync: the run's own when its title names "
        "no data set, or another project that an event named.",
    )
    seconds: float
    deferred: str | None = Field(
        default=None,
        description="Set when the run made no pass: the session of its data set that was "
        "running already and reads its changes.",
    )


class SyncPassError(RuntimeError):
    """The project's last pass failed (the earlier passes' labels are written)."""


@flow(name=SESSION_FLOW)
async def sync_session(
    params: SyncSessionParams,
) -> SyncSessionResult | State | DatasetRuns:
    """Sync the data set's project now, then again each time its annotations change.

    Args:
        params: the sync's parameters and `quiet_seconds`; `dataset` names the one data
            set (and Label Studio project) this session syncs.

    Returns:
        Every pass made; or, when a session of the data set is running already, a
        Completed state whose message names it (no pass made). With no `dataset` (the
        schedule): each registered data set's one-pass session and its final state.

    Raises:
        SyncPassError: the project's last pass failed (after MAX_FAILED_PASSES tries at
            most); the passes before it kept their labels.
    """
    if params.dataset is None:
        return await arun_for_each_registered(
            sync_session, params.model_copy(update={"quiet_seconds": 0})
        )
    logger = get_run_logger()
    began = time.monotonic()
    dataset = params.dataset if isinstance(params.dataset, str) else params.dataset.name
    try:
        resolve_dataset(params.dataset)
    except SpecError:
        # The trigger passes the event's data set name: one that is neither registered
        # nor shipped is reported, and the run completes.
        logger.warning("Ignoring changes of project %r: it names no data set", dataset)
        return _finish([], [dataset], began)
    # A session of the data set that is running reads this run's changes. A slot held
    # with no session running is a crashed run's until its lease expires: wait for it.
    deadline = time.monotonic() + SLOT_WAIT_SECONDS
    while True:
        async with try_dataset_slot("sync", dataset) as held:
            if held:
                return await _session(params, dataset, began)
        runs = read_running_runs(SESSION_FLOW)
        session = running_session(dataset, ((r.name, r.started, r.parameters) for r in runs))
        if session is not None or time.monotonic() > deadline:
            break
        await asyncio.sleep(SLOT_POLL_SECONDS)
    message = deferred_message(dataset, session, LEASE_SECONDS)
    logger.info("%s", message)
    deferred = SyncSessionResult(
        passes=[], seconds=round(time.monotonic() - began, 2), deferred=message
    )
    return Completed(message=message, data=deferred)


async def _session(params: SyncSessionParams, dataset: str, began: float) -> SyncSessionResult:
    """The session proper, while it holds the data set's sync slot."""
    logger = get_run_logger()
    known = {dataset}
    since = flow_run.scheduled_start_time - LOOKBACK
    passes: list[SessionPass] = []
    ignored: list[str] = []
    started: dict[str, dt.datetime] = {}
    covered: set[str] = set()  # events received before a pass of their project started

    async def sync(projects: list[str], why: str) -> set[str]:
        """A pass over each project; returns those whose changes are settled.

        A failed pass leaves its project's changes due (the next look retries it) until
        it has failed MAX_FAILED_PASSES times; then the schedule or the next run retries.
        """
        projects, others = split_known(projects, known)
        for project in others:
            if project not in ignored:
                logger.debug("Ignoring project %r: this session syncs %s", project, dataset)
                ignored.append(project)
        if projects:
            logger.info("Syncing %s (%s)", ", ".join(projects), why)
        settled = set(others)
        for project in projects:
            started[project] = dt.datetime.now(dt.UTC)
            passes.append(await _pass(params, project, started[project], why))
            failures = sum(1 for p in passes if p.project == project and p.error is not None)
            if passes[-1].error is None or failures >= MAX_FAILED_PASSES:
                settled.add(project)
            else:
                del started[project]
        return settled

    async def sync_due(changes: list[ProjectChange], why: str, always: set[str]) -> bool:
        """Sync the projects with a change no pass has read; whether there were any."""
        due = sorted(always | set(projects_to_sync(changes, started, covered)))
        settled = await sync(due, why)
        covered.update(c.id for c in changes if c.project not in due or c.project in settled)
        return bool(due)

    async def sync_stored(why: str, always: set[str]) -> bool:
        """Sync the project if stored events name it and no pass has read them."""
        nonlocal since
        looked = dt.datetime.now(dt.UTC)
        found = await sync_due(read_annotation_changes(since, dataset), why, always)
        since = max(since, looked - STORE_DELAY)
        return found

    if params.quiet_seconds == 0:
        await sync_stored("run start", {dataset})
        return _finish(passes, ignored, began)
    async with subscribe_annotation_changes(dataset) as events:
        # Subscribed first: whatever happens from here on reaches the stream.
        await sync_stored("run start", {dataset})
        last = time.monotonic()
        while True:
            changes = await _next_changes(events, quiet_deadline(last, params.quiet_seconds))
            if changes:
                await sync_due(changes, f"{len(changes)} webhook(s)", set())
            elif not await sync_stored("stored events", set()):
                break
            last = time.monotonic()
    return _finish(passes, ignored, began)


async def _pass(
    params: SyncSessionParams, project: str, started: dt.datetime, why: str
) -> SessionPass:
    """One `sync-labels` subflow for the project; a failure is recorded, not raised."""
    fields = params.model_dump(exclude={"quiet_seconds", "dataset", "reason"})
    reason = f"session pass ({why}); {params.reason or 'started'}"
    state = sync_labels(
        SyncParams(**fields, dataset=params.dataset, reason=reason), return_state=True
    )
    if state.is_completed():
        return SessionPass(project=project, started=started, result=await state.aresult())
    get_run_logger().error("Sync pass of %s ended %s: %s", project, state.name, state.message)
    return SessionPass(project=project, started=started, error=f"{state.name}: {state.message}")


async def _next_changes(events: PrefectEventSubscriber, deadline: float) -> list[ProjectChange]:
    """The next event and any that arrive right behind it; [] once the deadline passes."""
    try:
        event = await asyncio.wait_for(anext(events), timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        return []
    changes = [change_of(event)]
    gathered_until = time.monotonic() + COALESCE_MAX_SECONDS
    while time.monotonic() < gathered_until:
        try:
            event = await asyncio.wait_for(anext(events), timeout=COALESCE_SECONDS)
        except TimeoutError:
            break
        changes.append(change_of(event))
    return changes


def _finish(passes: list[SessionPass], ignored: list[str], began: float) -> SyncSessionResult:
    last = {p.project: p for p in passes}
    failed = [p for p in last.values() if p.error is not None]
    if failed:
        raise SyncPassError(
            f"the last sync pass failed for {len(failed)} project(s): "
            + "; ".join(f"{p.project}: {p.error}" for p in failed)
        )
    get_run_logger().info("Session ends after %d passes", len(passes))
    return SyncSessionResult(
        passes=passes, ignored=ignored, seconds=round(time.monotonic() - began, 2)
    )


SHORTCUTS = [DATASET]


def _run_session(params: SyncSessionParams) -> SyncSessionResult:
    return asyncio.run(sync_session(params))


if __name__ == "__main__":
    run_flow_script(_run_session, SyncSessionParams, __doc__, SHORTCUTS)
