"""`prefect --no-prompt deploy --all` of prefect.yaml, and a process worker running it.

On a throwaway Prefect server (only Prefect: the deployed flows that reach Label Studio
are not run here), exactly as docs/deploying.md says: create the pool, deploy, start a worker.
A collect run of the deployment then starts the cleanse deployment through its
automation, and the worker runs both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterCreatedBy,
)
from prefect.client.schemas.objects import FlowRun, StateType

from blocks import DataStore
from demo.digits import drop_digits
from stack import control, process
from stack.credentials import load_credentials
from stack.process import poll
from stack.servers import prefect_client_env, prefect_spec
from stack.prefect_yaml import PROJECT_ROOT, read_deployments
from stack.settings import StackSettings

pytestmark = pytest.mark.integration

PREFECT = str(Path(sys.executable).parent / "prefect")


@pytest.fixture
def prefect_only(other: StackSettings) -> Iterator[StackSettings]:
    """The throwaway stack's Prefect server alone, with its own auth string (stopped by
    `other`)."""
    credentials = control.stack_credentials(other)
    spec = prefect_spec(other, credentials, os.environ)
    process.wait_healthy(spec, process.start(spec))
    with control.stack_api(other, credentials):
        yield other


def _client_env(settings: StackSettings) -> dict[str, str]:
    """This process's environment, pointed at the stack's Prefect server (URL and auth)."""
    return {**os.environ, **prefect_client_env(settings, load_credentials(settings.credentials_path))}


def _prefect(settings: StackSettings, *args: str) -> str:
    done = subprocess.run(
        [PREFECT, *args],
        cwd=PROJECT_ROOT,
        env=_client_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _ended(client: SyncPrefectClient, run_id: UUID) -> FlowRun | None:
    run = client.read_flow_run(run_id)
    return run if run.state is not None and run.state.is_final() else None


def test_deploy_all_then_a_worker_runs_collect_and_the_triggered_cleanse(
    prefect_only: StackSettings, tmp_path: Path
) -> None:
    _prefect(prefect_only, "work-pool", "create", "labelloop", "--type", "process")
    _prefect(prefect_only, "--no-prompt", "deploy", "--all")

    declared = {spec.name: spec for spec in read_deployments(PROJECT_ROOT / "prefect.yaml")}
    with get_client(sync_client=True) as client:
        deployed = {d.name: d for d in client.read_deployments()}
        assert set(deployed) == set(declared)
        for name, deployment in deployed.items():
            automations = client.read_resource_related_automations(
                f"prefect.deployment.{deployment.id}"
            )
            assert len(automations) == len(declared[name].triggers), name
            assert deployment.work_pool_name == "labelloop"
            # the schedules would run the shipped defaults (paths under the repo) beside
            # this test's runs: off, and what they already scheduled removed
            for schedule in deployment.schedules:
                client.delete_deployment_schedule(deployment.id, schedule.id)
            for run in client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
            ):
                client.delete_flow_run(run.id)

        DataStore(base_path=str(tmp_path / "data")).save("local", overwrite=True)
        landing = tmp_path / "landing"
        drop_digits(landing, count=40)
        collect_run = client.create_flow_run_from_deployment(
            deployed["collect"].id,
            parameters={
                "params": {
                    "dataset": "digits",
                    "store_block": "local",
                    "sources": [{"kind": "local", "path": str(landing)}],
                }
            },
        )

        worker = subprocess.Popen(
            [PREFECT, "worker", "start", "--pool", "labelloop"],
            cwd=tmp_path,
            env=_client_env(prefect_only),
            stdout=(tmp_path / "worker.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            collected = poll("collect run end", lambda: _ended(client, collect_run.id), 300)
            assert collected.state_type == StateType.COMPLETED, _log(tmp_path)

            def triggered_cleanse() -> FlowRun | None:
                runs = client.read_flow_runs(
                    deployment_filter=DeploymentFilter(
                        id=DeploymentFilterId(any_=[deployed["cleanse"].id])
                    ),
                    flow_run_filter=FlowRunFilter(
                        created_by=FlowRunFilterCreatedBy(type_=["AUTOMATION"])
                    ),
                )
                done = [r for r in runs if r.state is not None and r.state.is_final()]
                return done[0] if done else None

            cleansed = poll("cleanse run started by batch.collected", triggered_cleanse, 300)
            assert cleansed.state_type == StateType.COMPLETED, _log(tmp_path)
        finally:
            stop_worker(worker)

    store = DataStore(base_path=str(tmp_path / "data"))
    assert store.list_keys("clean/digits/"), "the worker's cleanse wrote the clean batch"


def _log(tmp_path: Path) -> str:
    return (tmp_path / "worker.log").read_text(errors="replace")[-3000:]


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the worker's process group; SIGKILL after 60 s when a run it took on
    meanwhile holds it up (here: a push that the cleanse's event started, failing for
    want of a Label Studio block on this Prefect-only stack)."""
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
