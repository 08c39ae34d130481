"""The deployments of `prefect.yaml`, served together in one process for local use.

`prefect --no-prompt deploy --all` plus `prefect worker start --pool labelloop` runs
them on a work pool; `labelloop serve` builds the very same deployments (names,
parameters, schedules, triggers, concurrency limits) from the same file and serves
them from one process, polling every second so a triggered run starts within ~2 s.

    python -m flows.deployments --file prefect.yaml --poll-seconds 1

`labelloop serve` replaces itself with this command: the runner starts every flow run
in a fresh `spawn` subprocess, which first re-imports the serving process's main
module. This module imports little beyond Prefect; the `labelloop` command imports
every flow, the demo and the web receiver, which added seconds to each run's start.

When serve stops (Ctrl-C, SIGTERM), Prefect's runner ends the processes of the runs in
flight but leaves the runs Running: each would hold its deployment's concurrency slot
until the lease expires (5 minutes) and never run again. So the runs a stopped serve
leaves Running or Pending are put back on the schedule, and run when serve starts
again. (A serve killed outright leaves its runs' processes alive: they finish.)
"""

from __future__ import annotations

import argparse
import multiprocessing
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from prefect import serve
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import ConcurrencyLimitConfig, StateType
from prefect.deployments.runner import RunnerDeployment
from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from prefect.flows import load_flow_from_entrypoint
from prefect.settings import PREFECT_RUNNER_POLL_FREQUENCY, temporary_settings
from prefect.states import Scheduled
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

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


def runner_deployment(spec: DeploymentSpec, root: Path) -> RunnerDeployment:
    """A deployment to serve, built from its `prefect.yaml` entry.

    Args:
        spec: the entry.
        root: the folder `prefect.yaml` is in (entrypoints are relative to it).
    """
    flow = load_flow_from_entrypoint(str(root / spec.entrypoint))
    intervals = [s["interval"] for s in spec.schedules if "interval" in s]
    crons = [s["cron"] for s in spec.schedules if "cron" in s]
    return flow.to_deployment(
        name=spec.name,
        description=spec.description,
        parameters=spec.parameters,
        interval=intervals or None,
        cron=crons or None,
        triggers=triggers_of(spec),
        concurrency_limit=spec.concurrency_limit,
        tags=spec.tags,
    )


def serve_all(path: Path, poll_seconds: float = 1.0) -> None:
    """Serve every deployment of `path` from this process until interrupted.

    Args:
        path: the `prefect.yaml`.
        poll_seconds: how often the runner asks the server for runs to start.
    """
    root = path.resolve().parent
    deployments = [runner_deployment(spec, root) for spec in read_deployments(path)]
    try:
        with temporary_settings(updates={PREFECT_RUNNER_POLL_FREQUENCY: poll_seconds}):
            serve(*deployments)
    finally:
        for child in multiprocessing.active_children():  # what the runner left behind
            child.terminate()
            child.join(timeout=10)
        reschedule_interrupted(f"{d.flow_name}/{d.name}" for d in deployments)


def reschedule_interrupted(names: Iterable[str]) -> list[UUID]:
    """Put the runs of these deployments that are Running or Pending back on the schedule.

    Only for runs whose process is known to be gone (a stopped serve's): a run set back
    to Scheduled gives up its concurrency slot and runs again from the start.

    Args:
        names: deployments as `<flow name>/<deployment name>`.

    Returns:
        The ids of the runs rescheduled.
    """
    with get_client(sync_client=True) as client:
        ids = [client.read_deployment_by_name(name).id for name in names]
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=ids)),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])
                )
            ),
        )
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


def main(argv: list[str] | None = None) -> None:
    """`python -m flows.deployments`: what `labelloop serve` runs."""
    parser = argparse.ArgumentParser(description="Serve every deployment of a prefect.yaml.")
    parser.add_argument("--file", type=Path, default=Path("prefect.yaml"))
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    serve_all(args.file, args.poll_seconds)


if __name__ == "__main__":
    main()
