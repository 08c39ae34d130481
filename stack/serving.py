"""`labelloop serve`: every deployment of a `prefect.yaml`, served from one process.

    python -m stack.serving --file prefect.yaml --poll-seconds 1

It builds the same deployments as `prefect deploy` (names, parameters, schedules,
triggers, concurrency limits) and serves them, polling every `--poll-seconds`. Each
run gets a process of its own, forked from a forkserver that imported the flows once
(`stack.prefect_patches.runner.warm_flow_processes`). This is the serve process's main
module, which every run's process has loaded too: it imports little beyond Prefect.

When serve stops (Ctrl-C, SIGTERM) it kills the processes of the runs in flight and
puts those runs back on the schedule, so they run again when serve starts instead of
holding their deployments' concurrency slots. `wait_until_served` is how a caller that
started serve knows it is ready for events.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments.runner import RunnerDeployment
from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from prefect.flows import load_flow_from_entrypoint
from prefect.logging import get_logger
from prefect.runner import Runner
from prefect.settings import PREFECT_RUNNER_POLL_FREQUENCY, temporary_settings
from prefect.states import Scheduled
from pydantic import TypeAdapter

from stack.prefect_patches.runner import resolve_annotations, warm_flow_processes
from stack.prefect_yaml import DeploymentSpec, read_deployments
from stack.logs import hide_websocket_frames
from stack.process import StackError

logger = get_logger("labelloop.serve")
_TRIGGERS: TypeAdapter[DeploymentTriggerTypes] = TypeAdapter(DeploymentTriggerTypes)


def triggers_of(spec: DeploymentSpec) -> list[DeploymentTriggerTypes]:
    """The spec's triggers as Prefect builds them for `prefect deploy` (named alike)."""
    return [
        _TRIGGERS.validate_python({"name": f"{spec.name}__automation_{i}", **trigger})
        for i, trigger in enumerate(spec.triggers, start=1)
    ]


def deployment_options(spec: DeploymentSpec) -> dict[str, Any]:
    """The keyword arguments of `Flow.to_deployment` and `Runner.add_flow` for `spec`."""
    intervals = [s["interval"] for s in spec.schedules if "interval" in s]
    crons = [s["cron"] for s in spec.schedules if "cron" in s]
    return {
        "name": spec.name,
        "description": spec.description,
        "parameters": spec.parameters,
        "interval": intervals or None,
        "cron": crons or None,
        "triggers": triggers_of(spec),
        "concurrency_limit": spec.concurrency_limit,
        "tags": spec.tags,
    }


def load_flow(spec: DeploymentSpec, root: Path) -> Flow[..., Any]:
    """The flow of a `prefect.yaml` entry (entrypoints are relative to `root`).

    A flow file that is importable as a module (`flows/train.py` as `flows.train`) is
    imported as that module, which the forkserver has imported too, instead of being
    run as a script, whose folder would stay on `sys.path`.
    """
    module = module_name_of(root / spec.entrypoint_file, sys.path)
    name = spec.entrypoint.rpartition(":")[2]
    flow: Flow[..., Any] = load_flow_from_entrypoint(
        f"{module}:{name}" if module else str(root / spec.entrypoint)
    )
    return resolve_annotations(flow)


def runner_deployment(spec: DeploymentSpec, root: Path) -> RunnerDeployment:
    """A deployment built from its `prefect.yaml` entry, to apply to a server.

    Args:
        spec: the entry.
        root: the folder `prefect.yaml` is in (entrypoints are relative to it).
    """
    return load_flow(spec, root).to_deployment(**deployment_options(spec))


def module_name_of(path: Path, search_path: Sequence[str]) -> str | None:
    """The dotted name under which `path` (a `.py` file) is importable from `search_path`.

    The longest one wins (`flows.train` over `train`, should `flows/` itself be on the
    path); None when no entry of `search_path` holds the file under identifier names.
    """
    path = path.resolve()
    names = []
    for entry in search_path:
        try:
            parts = path.with_suffix("").relative_to(Path(entry or ".").resolve()).parts
        except ValueError:
            continue
        if parts and all(part.isidentifier() for part in parts):
            names.append(".".join(parts))
    return max(names, key=len, default=None)


def flow_modules(specs: Iterable[DeploymentSpec], root: Path) -> list[str]:
    """The importable module names of the deployments' flow files, for the forkserver.

    Called before Prefect loads the flows: loading one by its path puts the file's
    folder on `sys.path` for good, where e.g. `benchmarks/annotation.py` would shadow
    the `annotation` package.
    """
    files = {root / spec.entrypoint_file for spec in specs}
    names = {module_name_of(file, sys.path) for file in files}
    return sorted(name for name in names if name is not None)


async def _run_until_stopped(runner: Runner) -> dt.datetime | None:
    """Run the runner until SIGINT or SIGTERM; then end the runs' processes at once.

    Prefect's runner waits for the processes of flows it runs from memory before it
    stops (a retrain could hold Ctrl-C for minutes). They are killed instead, as the
    runner kills a `python -m prefect.engine` process; `serve_all` then puts their
    runs (left Running, or marked Crashed by the runner) back on the schedule.

    Returns:
        When the stop began (None: the runner ended by itself).
    """
    loop = asyncio.get_running_loop()
    serving = asyncio.current_task()
    assert serving is not None
    stopped_at: dt.datetime | None = None

    def stop() -> None:
        nonlocal stopped_at
        stopped_at = stopped_at or dt.datetime.now(dt.UTC)
        for child in multiprocessing.active_children():
            child.kill()
        serving.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    try:
        await runner.start()
    except asyncio.CancelledError:
        logger.info("stopping: the runs in flight go back on the schedule")
    return stopped_at


def serve_all(path: Path, poll_seconds: float = 1.0) -> None:
    """Serve every deployment of `path` from this process until interrupted.

    Args:
        path: the `prefect.yaml`.
        poll_seconds: how often the runner asks the server for runs to start.
    """
    root = path.resolve().parent
    specs = read_deployments(path)
    flows: list[Flow[..., Any]] = []
    stopped_at: dt.datetime | None = None
    try:
        with (
            # first: the forkserver takes this process's sys.path as it is now
            warm_flow_processes(flow_modules(specs, root)),
            temporary_settings(updates={PREFECT_RUNNER_POLL_FREQUENCY: poll_seconds}),
        ):
            flows = [load_flow(spec, root) for spec in specs]
            runner = Runner(pause_on_shutdown=True)
            for spec, flow in zip(specs, flows, strict=True):
                # add_flow, not add_deployment: the runner keeps the flow object and
                # starts its runs with `run_flow_in_subprocess` (warm), instead of a
                # `python -m prefect.engine` process that imports everything again.
                runner.add_flow(flow, **deployment_options(spec))
            logger.info("serving %s", ", ".join(f"{f.name}/{s.name}" for s, f in zip(specs, flows)))
            stopped_at = asyncio.run(_run_until_stopped(runner))
    finally:
        for child in multiprocessing.active_children():  # what the runner left behind
            child.terminate()
            child.join(timeout=10)
        reschedule_interrupted((f"{f.name}/{s.name}" for s, f in zip(specs, flows)), stopped_at)


def reschedule_interrupted(
    names: Iterable[str], stopped_at: dt.datetime | None = None
) -> list[UUID]:
    """Put the runs a stopped serve interrupted back on the schedule.

    Those are the runs of these deployments that are Running or Pending, and those that
    crashed since `stopped_at` (serve killed their processes then). Only for runs whose
    process is known to be gone: a run set back to Scheduled gives up its concurrency
    slot and runs again from the start.

    Args:
        names: deployments as `<flow name>/<deployment name>`.
        stopped_at: when serve began to stop (None: no run crashed by its stop).

    Returns:
        The ids of the runs rescheduled.
    """
    kinds = [StateType.RUNNING, StateType.PENDING, StateType.CRASHED]
    with get_client(sync_client=True) as client:
        ids = [client.read_deployment_by_name(name).id for name in names]
        found = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=ids)),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=kinds))
            ),
        )
        runs = [run for run in found if was_interrupted(run, stopped_at)]
        for run in runs:
            client.set_flow_run_state(
                run.id,
                Scheduled(
                    name="Interrupted",
                    message="labelloop serve stopped while this run was in flight; it runs "
                    "again when serve starts",
                ),
                force=True,
            )
    return [run.id for run in runs]


def was_interrupted(run: FlowRun, stopped_at: dt.datetime | None) -> bool:
    """Whether a stopped serve left this Running, Pending or Crashed run without a process.

    Running and Pending always; Crashed only when it crashed once the stop began (serve
    killed its process then), not a run that crashed on its own before.
    """
    if run.state is None or run.state.type != StateType.CRASHED:
        return True
    return stopped_at is not None and run.state.timestamp >= stopped_at


def deployment_ids(names: Iterable[str]) -> dict[str, UUID]:
    """The ids of the named deployments that exist on the configured Prefect server."""
    with get_client(sync_client=True) as client:
        deployments = client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=sorted(names)))
        )
    return {d.name: d.id for d in deployments}


def automation_ids(names: Iterable[str]) -> dict[str, set[UUID]]:
    """The automations each named deployment has now (the ones its triggers made), by name."""
    with get_client(sync_client=True) as client:
        return {
            name: {
                a.id
                for a in client.read_resource_related_automations(
                    f"prefect.deployment.{deployment_id}"
                )
            }
            for name, deployment_id in deployment_ids(names).items()
        }


def wait_until_served(
    names: Iterable[str],
    triggered: Iterable[str],
    earlier: Mapping[str, set[UUID]],
    timeout_s: float,
    alive: Callable[[], bool],
    log_tail: Callable[[], str],
) -> None:
    """Poll until every deployment is unpaused and each triggered one has automations
    this serve made.

    Events sent before a deployment's automation exists start nothing. A restarted
    serve re-applies its deployments: it unpauses them, deletes their automations and
    creates new ones; only automations not in `earlier` count.

    Args:
        names: the deployments served.
        triggered: those of them with triggers (`stack.prefect_yaml.triggered_names`).
        earlier: `automation_ids(names)` from before the serve process started.
        timeout_s: how long to wait.
        alive: whether the serve process still runs.
        log_tail: the end of its log, for the error.

    Raises:
        StackError: the process exited or did not register everything in time.
    """
    wanted = set(names)
    with_automations = set(triggered)
    deadline = time.monotonic() + timeout_s
    ready: set[str] = set()
    while time.monotonic() < deadline:
        if not alive():
            raise StackError(f"labelloop serve exited before serving; log:\n{log_tail()}")
        with get_client(sync_client=True) as client:
            deployments = client.read_deployments(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=sorted(wanted)))
            )
        unpaused = {d.name for d in deployments if not d.paused}
        automated = {
            name
            for name, ids in automation_ids(wanted & with_automations).items()
            if ids and not ids & earlier.get(name, set())
        }
        ready = {name for name in unpaused if name not in with_automations or name in automated}
        if ready == wanted:
            return
        time.sleep(0.5)
    raise StackError(
        f"labelloop serve registered only {sorted(ready)} of {sorted(wanted)} in "
        f"{timeout_s:.0f} s; log:\n{log_tail()}"
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m stack.serving`: what `labelloop serve` runs."""
    parser = argparse.ArgumentParser(description="Serve every deployment of a prefect.yaml.")
    parser.add_argument("--file", type=Path, default=Path("prefect.yaml"))
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    hide_websocket_frames()
    serve_all(args.file, args.poll_seconds)


if __name__ == "__main__":
    main()
