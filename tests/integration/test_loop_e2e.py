"""The loop by itself: annotations in Label Studio lead, through events and deployments
alone, to a new champion whose predictions reach the unlabelled tasks.

The deployments of prefect.yaml (sync, retrain, refresh-predictions) are served by
`labelloop serve` in a subprocess, as a user runs them. After the test has annotated
through the API it makes no further call: a Label Studio webhook -> the receiver ->
`annotations.changed` -> sync -> `labels.ready` -> retrain -> `model.promoted` ->
refresh. The test owns the shipped `texts` data set of the session's stack.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pandas as pd
import pytest
import yaml
from label_studio_sdk import LabelStudio
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterStartTime,
)
from prefect.events.filters import EventFilter, EventOccurredFilter, EventResourceFilter

from blocks import DataStore
from demo.bot import TeamConfig, annotate, ensure_team
from flows.annotate import PushParams, push_batch
from flows.deployments import read_deployments
from specs import TEXTS
from stack.control import LOCAL_BLOCK
from tasks.label_studio import ensure_webhook, find_project, require_project
from tasks.refresh import list_unlabelled_tasks
from tasks.registry import read_pointer
from tests.conftest import Stack
from tests.integration.deployments import remove_deployments
from webhooks.events import SECRET_HEADER

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVED = {"sync", "retrain", "refresh-predictions"}
WORDS = {
    "positive": "great lovely superb",
    "negative": "awful broken terrible",
    "neutral": "okay plain usual",
}


def _wipe(ls: LabelStudio, store: DataStore) -> None:
    """Remove what an earlier run left of the `texts` data set."""
    for project in ls.projects.list(title=TEXTS.name):
        if project.title == TEXTS.name:
            ls.projects.delete(id=project.id)
    for prefix in ("clean/", "labels/", "models/", "state/push/", "state/sync/", "state/train/"):
        for key in store.list_keys(f"{prefix}{TEXTS.name}"):
            store.delete(key)


@pytest.fixture
def served(stack: Stack, prefect_server: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`labelloop serve` of sync, retrain and refresh-predictions under unique names."""
    suffix = uuid4().hex[:6]
    document = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    document["deployments"] = [
        {
            **d,
            "name": f"{d['name']}-{suffix}",
            "entrypoint": str(ROOT / d["entrypoint"]),
            "schedules": [],
        }
        for d in document["deployments"]
        if d["name"] in SERVED
    ]
    path = tmp_path / "prefect.yaml"
    path.write_text(yaml.safe_dump(document))
    assert {d.name.rsplit("-", 1)[0] for d in read_deployments(path)} == SERVED
    log = (tmp_path / "serve.log").open("wb")
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    process = subprocess.Popen(
        [sys.executable, "-m", "stack.cli", "serve", "--file", str(path)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_until_served(process, {d["name"] for d in document["deployments"]})
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        print((tmp_path / "serve.log").read_text(errors="replace")[-3000:])
        remove_deployments(_deployment_ids({d["name"] for d in document["deployments"]}).values())


def _deployment_ids(names: set[str]) -> dict[str, UUID]:
    with get_client(sync_client=True) as client:
        deployments = client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=sorted(names)))
        )
    return {d.name: d.id for d in deployments}


def _wait_until_served(
    process: subprocess.Popen[bytes], names: set[str], timeout_s: float = 120
) -> None:
    """Poll the server until every served deployment and its automations exist.

    Events sent before a deployment's automation exists start nothing, so the test
    annotates only once the runner has registered everything (on a loaded machine that
    takes well over the few seconds it takes here).
    """
    deadline = time.monotonic() + timeout_s
    automated: set[str] = set()
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, "labelloop serve exited before serving"
            automated = {
                name
                for name, deployment_id in _deployment_ids(names).items()
                if client.read_resource_related_automations(f"prefect.deployment.{deployment_id}")
            }
            if automated == names:
                return
            time.sleep(0.5)
    raise AssertionError(
        f"labelloop serve registered only {sorted(automated)} of {sorted(names)} in {timeout_s} s"
    )


def _diagnosis(stack: Stack, since: datetime) -> str:
    """What the loop did, for a failure message: labelloop's events, the runs, the receiver."""
    with get_client(sync_client=True) as client:
        events = client.read_events(
            filter=EventFilter(
                occurred=EventOccurredFilter(since=since),
                resource=EventResourceFilter(id_prefix=["labelloop."]),
            ),
            limit=50,  # the server refuses more
        ).events
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)), limit=50
        )
    lines = [f"  {e.occurred:%H:%M:%S} {e.event} {e.resource.id}" for e in events]
    lines += [
        f"  {r.start_time:%H:%M:%S} run {r.name} ({r.parameters.get('params', {}).get('reason')}): {r.state_name}"
        for r in runs
        if r.start_time is not None
    ]
    receiver = (stack.settings.logs_dir / "receiver.log").read_text(errors="replace")[-1000:]
    return (
        "since the annotations:\n" + "\n".join(sorted(lines)) + f"\nreceiver log tail:\n{receiver}"
    )


def test_annotations_alone_lead_to_a_new_champion_in_label_studio(
    stack: Stack, prefect_server: str, ls: LabelStudio, served: subprocess.Popen[bytes]
) -> None:
    store = DataStore(base_path=str(stack.settings.data_dir))  # what the served flows use
    _wipe(ls, store)
    truth = {}
    rows = []
    for i in range(90):
        label = list(WORDS)[i % 3]
        text = (
            f"message {i} is {WORDS[label].split()[i % 3]} and {WORDS[label].split()[(i + 1) % 3]}"
        )
        rows.append({"item_id": f"e2e-{i:03d}", "text": text})
        truth[f"e2e-{i:03d}"] = label
    store.write_parquet(f"clean/{TEXTS.name}/b1.parquet", pd.DataFrame(rows))
    credentials = stack.label_studio()
    push_batch(
        PushParams(dataset=TEXTS.name, batch_size=60, store_block=LOCAL_BLOCK),
        store=store,
        credentials=credentials,
    )
    project = require_project(find_project(ls, TEXTS.name), TEXTS.name)
    ensure_webhook(
        ls,
        project.id,
        f"http://127.0.0.1:{stack.settings.receiver_port}/label-studio",
        SECRET_HEADER,
        stack.credentials.webhook_secret.get_secret_value(),
    )
    tasks = list_unlabelled_tasks(ls, project.id)
    labelled = {task.id: truth[task.item_id] for task in tasks[:30]}
    team = ensure_team(ls, 2, prefix="e2e")
    started = datetime.now(UTC)
    annotate(ls, project.config, labelled, team, TeamConfig(accuracy=1.0, skip_rate=0.0))

    # From here on the loop runs by itself.
    deadline = time.monotonic() + 300
    champion = None
    while time.monotonic() < deadline:
        assert served.poll() is None, "labelloop serve exited"
        pointer = read_pointer(store, TEXTS.name)
        if pointer is not None:
            champion = pointer.version
            waiting = [t for t in list_unlabelled_tasks(ls, project.id) if t.id not in labelled]
            shown = {p.model_version for task in waiting for p in task.predictions}
            if waiting and shown == {champion}:
                break
        time.sleep(2)
    assert champion is not None, f"no model was promoted within 300 s\n{_diagnosis(stack, started)}"
    # Label Studio's annotation counter can lag, so "unlabelled" is checked against what we labelled.
    waiting = [t for t in list_unlabelled_tasks(ls, project.id) if t.id not in labelled]
    assert len(waiting) == 30
    shown = {p.model_version for task in waiting for p in task.predictions}
    assert shown == {champion}, f"tasks show {shown}, not {champion}\n{_diagnosis(stack, started)}"
