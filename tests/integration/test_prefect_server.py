"""Contract: flow runs are recorded on the stack's real Prefect server, and the server
creates runs of a deployment under concurrent writes without asking clients to retry."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.context import FlowRunContext

from tests.conftest import Stack

pytestmark = pytest.mark.integration


@flow(name="contract-flow")
def contract_flow(x: int) -> str:
    get_run_logger().info("contract flow got %s", x)
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None
    return str(context.flow_run.id)


def test_flow_run_is_recorded_on_the_server(prefect_server: str) -> None:
    flow_run_id = contract_flow(x=41)
    with get_client(sync_client=True) as client:
        assert str(client.api_url).rstrip("/") == prefect_server.rstrip("/")
        run = client.read_flow_run(flow_run_id)
        assert run.state is not None and run.state.is_completed()
        assert client.read_flow(run.flow_id).name == "contract-flow"
        assert run.parameters == {"x": 41}


async def _create_runs(
    api_url: str, auth_string: str, deployment_id: str, count: int
) -> list[int]:
    """`count` concurrent POSTs of what an automation's run-deployment action sends.

    Raw HTTP: Prefect's client would hide a 503 behind its 2 s, 4 s, ... retries, which
    is the delay this test is about.
    """
    auth = httpx.BasicAuth(*auth_string.split(":", 1))
    async with httpx.AsyncClient(base_url=api_url, auth=auth, timeout=120) as http:

        async def create(i: int) -> int:
            response = await http.post(
                f"/deployments/{deployment_id}/create_flow_run",
                json={"parameters": {"i": i}, "tags": ["concurrency"]},
            )
            return response.status_code

        return list(await asyncio.gather(*(create(i) for i in range(count))))


def test_concurrent_runs_of_a_deployment_are_created_without_a_retry(
    stack: Stack, prefect_server: str, unique: str
) -> None:
    """Each create reads the deployment, then inserts the run, while the others commit.

    On Prefect's default SQLite configuration some answer 503 ("database is locked",
    retried by clients 2 s later); the stack's server begins them `IMMEDIATE`.
    """
    count = 40
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(f"concurrency-{unique}")
        deployment_id = client.create_deployment(flow_id=flow_id, name=unique)
        try:
            auth_string = stack.credentials.prefect_api_auth_string.get_secret_value()
            statuses = asyncio.run(
                _create_runs(prefect_server, auth_string, str(deployment_id), count)
            )
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
        finally:
            client.delete_flow(flow_id)

    assert statuses == [201] * count
    assert sorted(run.parameters["i"] for run in runs) == list(range(count))
