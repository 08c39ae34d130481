"""Contract: flow runs are recorded on the stack's real Prefect server."""

from __future__ import annotations

import pytest
from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

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
