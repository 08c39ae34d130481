"""Test harness: deployments of `prefect.yaml` served by `labelloop serve` in a
subprocess, under unique names, for the integration tests and the benchmarks.

It lives with the tests, which are not installed with the library; the benchmarks,
run from a checkout like the tests, import it from here (as they import
`tests.conftest.Stack`). They serve the real deployments (same entrypoints,
parameters, triggers and concurrency limits) under names no other run uses, wait until
the runner has registered every deployment and its automations, and remove them
afterwards. The process can be stopped and started again under the same names, as a
user restarts `labelloop serve`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from uuid import UUID, uuid4

import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

from stack.prefect_yaml import PROJECT_ROOT, served_document, triggered_names
from stack.serving import automation_ids, deployment_ids, wait_until_served


def remove_deployments(ids: Iterable[UUID]) -> None:
    """Delete deployments with their automations and runs.

    A stopped `serve` only pauses its deployments: their automations go on creating
    runs that nobody picks up, so a test removes what it served or applied.
    """
    with get_client(sync_client=True) as client:
        for deployment_id in ids:
            client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
            for run in client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            ):
                client.delete_flow_run(run.id)
            client.delete_deployment(deployment_id)


class ServedDeployments:
    """Deployments of a `prefect.yaml` served by `labelloop serve` in a subprocess.

    Example:
        with ServedDeployments(ROOT / "prefect.yaml", {"sync", "retrain"}, tmp_path, env) as s:
            s.name("sync")   # 'sync-1a2b3c', the name it is served under
    """

    def __init__(
        self,
        source: Path,
        names: Iterable[str],
        workdir: Path,
        prefect_env: Mapping[str, str],
        extra: Iterable[Mapping[str, Any]] = (),
        poll_seconds: float = 1.0,
        changes: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Write the renamed copy of `source` into `workdir`; nothing starts yet.

        Args:
            source: the `prefect.yaml`.
            names: its deployments to serve.
            workdir: where the copy and the serve log go.
            prefect_env: the Prefect API the served runs report to: its URL and auth
                string (`Stack.prefect_env()`, `stack.servers.prefect_client_env`).
            extra: more deployment entries (see `served_document`).
            poll_seconds: the runner's poll interval (`labelloop serve --poll-seconds`).
            changes: per deployment, keys that replace its own (see `served_document`).
        """
        self.suffix = uuid4().hex[:6]
        self.document = served_document(source, names, self.suffix, extra, changes=changes)
        self.path = workdir / f"prefect-{self.suffix}.yaml"
        self.path.write_text(yaml.safe_dump(self.document))
        self.log_path = workdir / f"serve-{self.suffix}.log"
        self.prefect_env = dict(prefect_env)
        self.poll_seconds = poll_seconds
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def served_names(self) -> set[str]:
        return {d["name"] for d in self.document["deployments"]}

    def name(self, base: str) -> str:
        """The name the deployment `base` is served under."""
        return f"{base}-{self.suffix}"

    def start(self, timeout_s: float = 180) -> None:
        """Start `labelloop serve` and wait until every deployment and automation exists.

        Events sent before a deployment's automation exists start nothing, so callers
        act only once this returns (on a loaded machine that takes well over a minute).

        Raises:
            RuntimeError: already running.
            StackError: the process exited or did not register everything in time.
        """
        if self.running():
            raise RuntimeError(f"labelloop serve of {self.path} is already running")
        earlier = automation_ids(self.served_names)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "labelloop",
                    "serve",
                    "--file",
                    str(self.path),
                    "--poll-seconds",
                    str(self.poll_seconds),
                ],
                cwd=PROJECT_ROOT,
                env={**os.environ, **self.prefect_env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until_served(
            self.served_names,
            triggered_names(self.document),
            earlier,
            timeout_s,
            self.running,
            self.log_tail,
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 30) -> None:
        """Stop the serve process as Ctrl-C would (SIGINT), killing it after the timeout."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the serve log (for failure messages)."""
        if not self.log_path.exists():
            return "(no serve log)"
        return self.log_path.read_text(errors="replace")[-chars:]

    def remove(self) -> None:
        """Delete the served deployments, their automations and runs from the server."""
        remove_deployments(deployment_ids(self.served_names).values())

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            self.remove()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
        self.remove()
