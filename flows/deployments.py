"""The deployments of `prefect.yaml`, served together in one process for local use.

`prefect --no-prompt deploy --all` plus `prefect worker start --pool labelloop` runs
them on a work pool; `labelloop serve` builds the very same deployments (names,
parameters, schedules, triggers, concurrency limits) from the same file and serves
them from one process, polling every second so a triggered run starts within ~2 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.deployments.runner import RunnerDeployment
from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from prefect.flows import load_flow_from_entrypoint
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


def serve_all(path: Path) -> None:
    """Serve every deployment of `path` from this process until interrupted."""
    root = path.resolve().parent
    serve(*(runner_deployment(spec, root) for spec in read_deployments(path)))
