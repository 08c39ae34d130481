"""The deployments of `prefect.yaml`, served together in one process for local use.

`prefect --no-prompt deploy --all` plus `prefect worker start --pool labelloop` runs
them on a work pool; `labelloop serve` builds the very same deployments (names,
parameters, schedules, triggers, concurrency limits) from the same file and serves
them from one process, polling every second so a triggered run starts within ~2 s.

    python -m flows.deployments --file prefect.yaml --poll-seconds 1

`labelloop serve` replaces itself with this command. Prefect's runner starts every
flow run in a fresh Python process (`python -m prefect.engine`, or a `spawn`
subprocess for a flow it holds), which imports Prefect, the flow's module and
everything it imports (scikit-learn, skops, pandas) before the run is Running: 5 s on
an idle 2-core machine for the retrain flow, three times that on a busy one. Serve
instead starts each run's process from a forkserver (`multiprocessing`'s, see
`warm_flow_processes`) that imported those modules once when serve started: every run
still gets a process of its own, forked from a parent that holds no thread, no client
and no connection, so nothing is shared between runs, and it starts in a fraction of a
second. This module imports little beyond Prefect itself.

When serve stops (Ctrl-C, SIGTERM), it kills the processes of the runs in flight (a
retrain would otherwise hold the stop for minutes) and puts those runs back on the
schedule, so they run again when serve starts. Left as they were, they would hold
their deployments' concurrency slots until the lease expires (5 minutes) and never run
again. (A serve killed outright leaves its runs' processes alive: they finish.)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import signal
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, get_type_hints
from uuid import UUID

import yaml
from prefect import Flow, flow_engine
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import ConcurrencyLimitConfig, FlowRun, StateType
from prefect.deployments.runner import RunnerDeployment
from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from prefect.flows import load_flow_from_entrypoint
from prefect.logging import get_logger
from prefect.runner import Runner
from prefect.settings import PREFECT_RUNNER_POLL_FREQUENCY, temporary_settings
from prefect.states import Scheduled
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

logger = get_logger("labelloop.serve")
_TRIGGERS: TypeAdapter[DeploymentTriggerTypes] = TypeAdapter(DeploymentTriggerTypes)


class DeploymentSpec(BaseModel):
    """The part of a `prefect.yaml` deployment that `serve` uses."""

    model_config = ConfigDict(extra="ignore")

    name: str
    entrypoint: str
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    schedules: list[dict[str, Any]] = Field(default_factory=list)
    triggers: list[dict[str, Any]] = Field(default_factory=list)
    concurrency_limit: int | ConcurrencyLimitConfig | None = None
    tags: list[str] = Field(default_factory=list)


def read_deployments(path: Path) -> list[DeploymentSpec]:
    """The deployments declared in a `prefect.yaml`.

    Raises:
        ValueError: the file has no deployments (names the file).
    """
    document = yaml.safe_load(path.read_text()) or {}
    specs = [DeploymentSpec.model_validate(d) for d in document.get("deployments") or []]
    if not specs:
        raise ValueError(f"{path} declares no deployments")
    return specs


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
    imported as that module, which the forkserver has imported too (see
    `warm_flow_processes`), instead of being run as a script, whose folder would stay
    on `sys.path`. The runner hands each run's process the flow pickled by value, and a
    function pickled by value keeps only the globals its code uses: annotations kept
    as strings (`from __future__ import annotations`) could not be resolved there, so
    they are resolved here.
    """
    file, _, name = spec.entrypoint.rpartition(":")
    module = module_name_of(root / file, sys.path)
    flow: Flow[..., Any] = load_flow_from_entrypoint(
        f"{module}:{name}" if module else str(root / spec.entrypoint)
    )
    flow.fn.__annotations__ = get_type_hints(flow.fn)
    return flow


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
    files = {root / spec.entrypoint.split(":", 1)[0] for spec in specs}
    names = {module_name_of(file, sys.path) for file in files}
    return sorted(name for name in names if name is not None)


class _ForkserverForSpawn(ModuleType):
    """`multiprocessing` as Prefect's flow engine sees it under `warm_flow_processes`:
    the same module, except that asking for the `spawn` context gives the forkserver's."""

    def __init__(self, context: multiprocessing.context.ForkServerContext) -> None:
        super().__init__("multiprocessing")
        self._context = context

    def __getattr__(self, name: str) -> object:
        return getattr(multiprocessing, name)

    def get_context(self, method: str | None = None) -> multiprocessing.context.BaseContext:
        return self._context if method == "spawn" else multiprocessing.get_context(method)


@contextmanager
def warm_flow_processes(modules: Sequence[str]) -> Iterator[None]:
    """Start the runner's flow-run processes from a forkserver that imported `modules`.

    Prefect's `run_flow_in_subprocess` (what a runner serving flow objects calls) takes
    the `spawn` context of `multiprocessing`; inside this block it gets the
    `forkserver` context instead, with the same process API (start, pid, join,
    exitcode, terminate). The forkserver is a single-threaded process started now,
    which imports `modules` (an import that fails is skipped, as `multiprocessing`
    does) and then forks one child per run on request. A child re-runs the usual
    spawn preparation (sys.path, main module) and unpickles the run as before.

    Args:
        modules: module names to import once in the forkserver (the flows' modules).
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", *modules])
    multiprocessing.forkserver.ensure_running()  # imports in the background from now
    engine_multiprocessing = flow_engine.multiprocessing
    flow_engine.multiprocessing = _ForkserverForSpawn(context)  # type: ignore[assignment]
    try:
        yield
    finally:
        flow_engine.multiprocessing = engine_multiprocessing


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


def main(argv: list[str] | None = None) -> None:
    """`python -m flows.deployments`: what `labelloop serve` runs."""
    parser = argparse.ArgumentParser(description="Serve every deployment of a prefect.yaml.")
    parser.add_argument("--file", type=Path, default=Path("prefect.yaml"))
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    serve_all(args.file, args.poll_seconds)


if __name__ == "__main__":
    main()
