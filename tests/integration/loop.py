"""Shared by the tests that let the loop run by itself: the `texts` project, waits, diagnosis.

These tests own the shipped `texts` data set of the session's stack: each wipes what an
earlier run left, writes clean rows, pushes a batch to Label Studio with the webhook to
the stack's receiver, and then only annotates; the served deployments do the rest.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
from label_studio_sdk import LabelStudio
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime
from prefect.events.filters import EventFilter, EventOccurredFilter, EventResourceFilter
from pydantic import BaseModel, ConfigDict

from annotation.config import ClassificationConfig
from annotation.models import parse_tasks
from annotation.refresh import unlabelled_query, unlabelled_tasks
from blocks import DataStore
from flows.annotate import PushParams, push_batch
from specs import TEXTS
from stack.control import LOCAL_BLOCK
from stack.prefect_yaml import PROJECT_ROOT
from tasks.label_studio import ensure_webhook, find_project, require_project
from tasks.refresh import UNLABELLED_INCLUDE
from tasks.registry import read_pointer
from tests.conftest import Stack
from tests.served import ServedDeployments
from webhooks.events import SECRET_HEADER

LOOP = ("sync", "retrain", "refresh-predictions")
WORDS = {
    "positive": "great lovely superb",
    "negative": "awful broken terrible",
    "neutral": "okay plain usual",
}


class TextsProject(BaseModel):
    """The pushed `texts` project: its id, config and each task's true label."""

    model_config = ConfigDict(frozen=True)

    id: int
    config: ClassificationConfig
    truth: dict[int, str]


def wipe_texts(ls: LabelStudio, store: DataStore) -> None:
    """Remove what an earlier run left of the `texts` data set."""
    for project in ls.projects.list(title=TEXTS.name):
        if project.title == TEXTS.name:
            ls.projects.delete(id=project.id)
    for prefix in ("clean/", "labels/", "models/", "state/push/", "state/sync/", "state/train/"):
        for key in store.list_keys(f"{prefix}{TEXTS.name}"):
            store.delete(key)


def push_texts(
    stack: Stack, ls: LabelStudio, store: DataStore, rows: int, pushed: int
) -> TextsProject:
    """Fresh clean `texts` rows, `pushed` of them in Label Studio, the webhook in place."""
    wipe_texts(ls, store)
    truth, frame = {}, []
    for i in range(rows):
        label = list(WORDS)[i % 3]
        words = WORDS[label].split()
        frame.append(
            {
                "item_id": f"e2e-{i:03d}",
                "text": f"message {i} is {words[i % 3]} and {words[(i + 1) % 3]}",
            }
        )
        truth[f"e2e-{i:03d}"] = label
    store.write_parquet(f"clean/{TEXTS.name}/b1.parquet", pd.DataFrame(frame))
    push_batch(
        PushParams(dataset=TEXTS.name, batch_size=pushed, store_block=LOCAL_BLOCK),
        store=store,
        credentials=stack.label_studio(),
    )
    project = require_project(find_project(ls, TEXTS.name), TEXTS.name)
    ensure_webhook(
        ls,
        project.id,
        f"http://127.0.0.1:{stack.settings.receiver_port}/label-studio",
        SECRET_HEADER,
        stack.credentials.webhook_secret.get_secret_value(),
    )
    pager = ls.tasks.list(project=project.id, fields="all", include="id,data", page_size=1000)
    tasks = parse_tasks(task.model_dump(mode="json") for task in pager)
    return TextsProject(
        id=project.id, config=project.config, truth={t.id: truth[t.item_id] for t in tasks}
    )


def serve_loop(stack: Stack, workdir: Path) -> ServedDeployments:
    """The loop's deployments of prefect.yaml, to serve under unique names (not started)."""
    return ServedDeployments(
        PROJECT_ROOT / "prefect.yaml", LOOP, workdir, stack.prefect_env()
    )


def shown_versions(ls: LabelStudio, project_id: int, labelled: set[int]) -> set[str]:
    """The model versions the predictions of the tasks nobody labelled show.

    Unlabelled is decided from each task's own annotations (as the refresh decides it),
    and the tasks the test labelled are left out whatever Label Studio says.
    """
    pager = ls.tasks.list(
        project=project_id,
        fields="all",
        include=UNLABELLED_INCLUDE,
        query=json.dumps(unlabelled_query()),
        page_size=1000,
    )
    read = parse_tasks(p.model_dump(mode="json") for p in pager)
    tasks = [t for t in unlabelled_tasks(read) if t.id not in labelled]
    return {p.model_version or "" for task in tasks for p in task.predictions} | (
        {""} if any(not task.predictions for task in tasks) else set()
    )


def wait_for_refreshed(
    ls: LabelStudio,
    store: DataStore,
    project_id: int,
    labelled: set[int],
    served: ServedDeployments,
    timeout_s: float,
    not_version: str | None = None,
) -> str | None:
    """Poll until a champion (other than `not_version`) shows on every unlabelled task.

    Returns:
        That champion's version, or None when the deadline passed first.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert served.running(), f"labelloop serve exited\n{served.log_tail()}"
        pointer = read_pointer(store, TEXTS.name)
        if (
            pointer is not None
            and pointer.version != not_version
            and shown_versions(ls, project_id, labelled) == {pointer.version}
        ):
            return pointer.version
        time.sleep(2)
    return None


def diagnosis(stack: Stack, since: datetime) -> str:
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
