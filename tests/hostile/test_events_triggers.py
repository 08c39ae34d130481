"""A forged event naming a hostile project reaches the real trigger of the sync deployment.

Anyone who can reach the Prefect API can emit an event. The sync deployment's trigger
templates the event's resource name into `dataset`; the deployment's parameter schema
(the Params pattern) refuses `this:s`, so no run exists that could import it, while the
event of a well-named project in the same moment creates its run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterCreatedBy,
)
from prefect.events import emit_event

from stack.prefect_yaml import read_deployments
from stack.serving import runner_deployment
from tasks.events import ANNOTATIONS_CHANGED, project_resource
from tests.hostile.names import TRIPWIRE
from tests.served import remove_deployments

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ["this:s", f"{TRIPWIRE}:SPEC", "../digits"]


@pytest.fixture
def sync_deployment(prefect_server: str, unique: str) -> Iterator[UUID]:
    (spec,) = [s for s in read_deployments(ROOT / "prefect.yaml") if s.name == "sync"]
    deployment_id = runner_deployment(spec.model_copy(update={"name": f"sync-{unique}"}), ROOT).apply()
    try:
        yield deployment_id
    finally:
        remove_deployments([deployment_id])


def _triggered(deployment_id: UUID) -> list[dict[str, Any]]:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(created_by=FlowRunFilterCreatedBy(type_=["AUTOMATION"])),
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        )
    return [run.parameters["params"] for run in runs]


def test_a_hostile_project_name_creates_no_run(sync_deployment: UUID, unique: str) -> None:
    time.sleep(2)  # the automation is loaded by the trigger service a moment after creation
    for name in [*HOSTILE, unique]:
        emit_event(event=ANNOTATIONS_CHANGED, resource=project_resource(name), payload={"action": "ANNOTATION_CREATED"})

    deadline = time.monotonic() + 180
    while not any(p.get("dataset") == unique for p in _triggered(sync_deployment)):
        assert time.monotonic() < deadline, "the well-named project's run was never created"
        time.sleep(1)
    time.sleep(5)  # the hostile events were emitted first; give their actions a moment more
    params = _triggered(sync_deployment)
    assert [p["dataset"] for p in params] == [unique]
