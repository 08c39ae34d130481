"""`labelloop serve` of some `prefect.yaml` deployments in a subprocess, under unique names.

Used by the tests and benchmarks that need the loop running by itself against the local
stack: they serve the real deployments (same entrypoints, parameters, triggers and
concurrency limits) under names no other run uses, wait until the runner has registered
every deployment and its automations, and remove them afterwards. The process can be
stopped and started again under the same names, as a user restarts `labelloop serve`.
The demo serves every deployment under its own name (`served_document` with no suffix,
`wait_until_served`) through `stack.control.serve`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from uuid import UUID, uuid4

import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    DeploymentFilterName,
)

from stack.process import StackError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def served_document(
    source: Path,
    names: Iterable[str] | None,
    suffix: str | None,
    extra: Iterable[Mapping[str, Any]] = (),
    keep_schedules: bool = False,
    changes: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A copy of a `prefect.yaml` with only the named deployments, renamed `<name>-<suffix>`.

    Args:
        source: the `prefect.yaml` to copy.
        names: the deployments to keep (None: all).
        suffix: appended to every deployment name (and to those of `extra`); None keeps
            the names.
        extra: more deployment entries to serve beside them (entrypoints relative to
            `source`'s folder, like the file's own).
        keep_schedules: keep the deployments' schedules (dropped by default, so only
            events start runs).
        changes: deployment name -> keys that replace the entry's own (e.g. other
            `parameters` or `schedules`), applied last.

    Returns:
        The document, entrypoints made absolute.

    Raises:
        ValueError: a name is not a deployment of `source` (names it).
    """
    document = yaml.safe_load(source.read_text()) or {}
    root = source.resolve().parent
    declared = document.get("deployments") or []
    wanted = {d["name"] for d in declared} if names is None else set(names)
    kept = [d for d in declared if d["name"] in wanted]
    missing = wanted - {d["name"] for d in kept}
    if missing:
        raise ValueError(f"{source} has no deployment named {sorted(missing)}")
    document["deployments"] = [
        {
            **entry,
            "name": entry["name"] if suffix is None else f"{entry['name']}-{suffix}",
            "entrypoint": str(root / entry["entrypoint"]),
            **({} if keep_schedules else {"schedules": []}),
            **(changes or {}).get(entry["name"], {}),
        }
        for entry in [*kept, *extra]
    ]
    return document


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


def triggered_names(document: Mapping[str, Any]) -> set[str]:
    """The deployments of a `prefect.yaml` document that have triggers (automations)."""
    return {d["name"] for d in document["deployments"] if d.get("triggers")}


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
        triggered: those of them with triggers (see `triggered_names`).
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


def deployment_ids(names: Iterable[str]) -> dict[str, UUID]:
    """The ids of the named deployments that exist on the configured Prefect server."""
    with get_client(sync_client=True) as client:
        deployments = client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=sorted(names)))
        )
    return {d.name: d.id for d in deployments}


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
        with ServedDeployments(ROOT / "prefect.yaml", {"sync", "retrain"}, tmp_path, api_url) as s:
            s.name("sync")   # 'sync-1a2b3c', the name it is served under
    """

    def __init__(
        self,
        source: Path,
        names: Iterable[str],
        workdir: Path,
        api_url: str,
        extra: Iterable[Mapping[str, Any]] = (),
        poll_seconds: float = 1.0,
        changes: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Write the renamed copy of `source` into `workdir`; nothing starts yet.

        Args:
            source: the `prefect.yaml`.
            names: its deployments to serve.
            workdir: where the copy and the serve log go.
            api_url: the Prefect API the served runs report to.
            extra: more deployment entries (see `served_document`).
            poll_seconds: the runner's poll interval (`labelloop serve --poll-seconds`).
            changes: per deployment, keys that replace its own (see `served_document`).
        """
        self.suffix = uuid4().hex[:6]
        self.document = served_document(source, names, self.suffix, extra, changes=changes)
        self.path = workdir / f"prefect-{self.suffix}.yaml"
        self.path.write_text(yaml.safe_dump(self.document))
        self.log_path = workdir / f"serve-{self.suffix}.log"
        self.api_url = api_url
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
                    "stack.cli",
                    "serve",
                    "--file",
                    str(self.path),
                    "--poll-seconds",
                    str(self.poll_seconds),
                ],
                cwd=PROJECT_ROOT,
                env={**os.environ, "PREFECT_API_URL": self.api_url},
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
