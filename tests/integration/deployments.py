"""Shared by the tests that apply or serve deployments on the real Prefect server."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId


def remove_deployments(ids: Iterable[UUID]) -> None:
    """Delete deployments with their automations and runs.

    A stopped `serve` only pauses its deployments: their automations go on creating
    runs that nobody picks up, so a test removes what it applied.
    """
    with get_client(sync_client=True) as client:
        for deployment_id in ids:
            client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
            for run in client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            ):
                client.delete_flow_run(run.id)
            client.delete_deployment(deployment_id)
