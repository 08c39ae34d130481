"""How fast the loop reacts to people: from the annotation that crosses the ready threshold
to the retrain run starting, and to the new champion's predictions in Label Studio.

    labelloop stack up && python -m benchmarks.loop_latency [--rounds 5]

Runs against the local stack of LABELLOOP_PORT_BASE. The sync, retrain and
refresh-predictions deployments of prefect.yaml are served by `labelloop serve` in a
subprocess under unique names (schedules dropped, so only events start runs), beside a
trivial `noop` deployment triggered by its own event. The shipped `texts` data set is
wiped and rebuilt (clean rows, a pushed batch, the webhook, two annotator bots).

Per round: the bots annotate one task less than the sync's ready threshold; once the
sync has merged them and nothing runs, the crossing annotation is made and timed to
(a) the retrain run's Running state on the server and (b) Label Studio showing the new
champion's model_version on every unlabelled task (polled every 0.25 s). The registry
is emptied before each round so every retrain is a first model and is promoted (the
gate never promotes a tie), which the refresh needs. Baseline: an event emitted for the
`noop` deployment to its run's Running state, once per round, same serve process.

Prints each round's hops, then one JSON line per figure:
{"metric", "value" (median s), "baseline" (median s), "ratio"}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pandas as pd
from label_studio_sdk import LabelStudio
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.events import emit_event
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)
from prefect.events.schemas.events import ReceivedEvent
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import BaseModel

from annotation.config import ClassificationConfig
from annotation.models import parse_tasks
from annotation.refresh import unlabelled_query
from benchmarks.noop_flow import PING
from blocks import DataStore, LabelStudioCredentials
from demo.bot import TeamConfig, annotate, ensure_team
from flows.annotate import PushParams, push_batch
from flows.sync import SyncParams
from specs import TEXTS
from stack import control
from stack.serving import PROJECT_ROOT, ServedDeployments
from stack.settings import StackSettings
from tasks.events import (
    ANNOTATIONS_CHANGED,
    LABELS_READY,
    MODEL_PROMOTED,
    project_resource,
)
from tasks.label_studio import ensure_webhook
from tasks.refresh import find_project
from tasks.registry import read_pointer
from tasks.state import LabelsVersion, latest_labels_key
from webhooks.events import SECRET_HEADER

SERVED = ("sync", "retrain", "refresh-predictions")
WORDS = {
    "positive": ["great", "lovely", "superb", "happy", "excellent"],
    "negative": ["awful", "broken", "sad", "terrible", "poor"],
    "neutral": ["okay", "average", "plain", "usual", "fine"],
}
ACTIVE = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
T = TypeVar("T")


class Round(BaseModel):
    """One timed round: seconds from the crossing annotation, per hop."""

    to_retrain_start: float
    to_refreshed: float
    hops: dict[str, float]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _since(start: dt.datetime, moment: dt.datetime | None) -> float:
    return float("nan") if moment is None else (moment - start).total_seconds()


def _wait(what: str, probe: Callable[[], T | None], timeout_s: float, every_s: float = 0.25) -> T:
    """Poll `probe` until it returns something other than None; fail after the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(every_s)
    raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")


def _rows(n: int) -> tuple[pd.DataFrame, dict[str, str]]:
    """Generated short reviews; each names two words of its class."""
    labels = list(WORDS)
    rows, truth = [], {}
    for i in range(n):
        label = labels[i % 3]
        words = WORDS[label]
        item_id = f"lat-{i:04d}"
        rows.append({"item_id": item_id, "text": f"note {i}: {words[i % 5]} and {words[(i + 2) % 5]}"})
        truth[item_id] = label
    return pd.DataFrame(rows), truth


def _wipe(ls: LabelStudio, store: DataStore) -> None:
    for project in ls.projects.list(title=TEXTS.name):
        if project.title == TEXTS.name:
            ls.projects.delete(id=project.id)
    for prefix in ("clean/", "labels/", "models/", "state/push/", "state/sync/", "state/train/"):
        for key in store.list_keys(f"{prefix}{TEXTS.name}"):
            store.delete(key)


def _unlabelled_versions(ls: LabelStudio, project_id: int, labelled: set[int]) -> list[set[str]]:
    """For each task nobody labelled: the model versions of its predictions."""
    pager = ls.tasks.list(
        project=project_id,
        fields="all",
        include="id,data,predictions,model_version",
        query=json.dumps(unlabelled_query()),
        page_size=1000,
    )
    tasks = parse_tasks(task.model_dump(mode="json") for task in pager)
    return [
        {p.model_version or "" for p in task.predictions} for task in tasks if task.id not in labelled
    ]


def _runs(
    client: SyncPrefectClient,
    deployment: str,
    after: dt.datetime,
    states: list[StateType] | None = None,
) -> list[FlowRun]:
    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])),
        flow_run_filter=FlowRunFilter(
            expected_start_time=FlowRunFilterExpectedStartTime(after_=after),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states)) if states else None,
        ),
    )


def _state_times(client: SyncPrefectClient, run_id: UUID) -> dict[str, dt.datetime]:
    """When the run first entered each state type (SCHEDULED, PENDING, RUNNING, ...)."""
    times: dict[str, dt.datetime] = {}
    for state in sorted(client.read_flow_run_states(run_id), key=lambda s: s.timestamp):
        times.setdefault(state.type.value, state.timestamp)
    return times


def _events(
    client: SyncPrefectClient, names: Iterable[str], resource: str, since: dt.datetime
) -> list[ReceivedEvent]:
    page = client.read_events(
        filter=EventFilter(
            occurred=EventOccurredFilter(since=since),
            event=EventNameFilter(name=list(names)),
            resource=EventResourceFilter(id=[resource]),
        ),
        limit=50,
    )
    return sorted(page.events, key=lambda e: e.occurred)


def _related_run(event: ReceivedEvent) -> UUID | None:
    """The flow run that emitted an event (Prefect relates it)."""
    for related in event.related:
        if related.id.startswith("prefect.flow-run."):
            return UUID(related.id.removeprefix("prefect.flow-run."))
    return None


def _wait_quiet(served: ServedDeployments, store: DataStore, labels: int, timeout_s: float) -> None:
    """Until the sync has merged `labels` labels and no served run is active."""

    def probe() -> bool | None:
        key = latest_labels_key(TEXTS.name)
        if labels and not store.exists(key):
            return None
        if labels and LabelsVersion.model_validate(store.read_json(key)).labels < labels:
            return None
        with get_client(sync_client=True) as client:
            for base in SERVED:
                if _runs(client, served.name(base), _now() - dt.timedelta(hours=1), ACTIVE):
                    return None
        return True

    _wait(f"the sync merging {labels} labels and every run ending", probe, timeout_s, 0.5)


def ping(served: ServedDeployments, timeout_s: float) -> float:
    """Prefect's own trigger-to-run time: the `noop` event to its run's Running state."""
    marker = uuid4().hex[:8]
    start = _now()
    emit_event(
        event=PING,
        resource={"prefect.resource.id": f"labelloop.benchmark.{marker}"},
    )
    with get_client(sync_client=True) as client:

        def running() -> dt.datetime | None:
            for run in _runs(client, served.name("noop"), start - dt.timedelta(seconds=5)):
                times = _state_times(client, run.id)
                if "RUNNING" in times and times["SCHEDULED"] >= start:
                    return times["RUNNING"]
            return None

        return _since(start, _wait("the noop run to start", running, timeout_s))


def play_round(
    ls: LabelStudio,
    store: DataStore,
    served: ServedDeployments,
    project_id: int,
    config: ClassificationConfig,
    team: list[int],
    tasks: dict[int, str],
    labelled: set[int],
    timeout_s: float,
) -> Round:
    """Annotate below the threshold, settle, then time the crossing annotation."""
    for key in store.list_keys(f"models/{TEXTS.name}/"):
        store.delete(key)  # every round's model is a first model: promoted
    *warm, crossing = tasks.items()
    bots = TeamConfig(accuracy=1.0, skip_rate=0.0, seed=len(labelled))
    annotate(ls, config, dict(warm), team, bots)
    labelled |= {task_id for task_id, _ in warm}
    _wait_quiet(served, store, len(labelled), timeout_s)

    start = _now()
    vote = annotate(ls, config, dict([crossing]), team, bots)[0]
    posted = _now()
    labelled.add(crossing[0])
    with get_client(sync_client=True) as client:

        def retrain_running() -> tuple[UUID, dt.datetime] | None:
            for run in _runs(client, served.name("retrain"), start):
                times = _state_times(client, run.id)
                if "RUNNING" in times:
                    return run.id, times["RUNNING"]
            return None

        retrain_id, retrain_running_at = _wait("the retrain run to start", retrain_running, timeout_s)

        def refreshed() -> tuple[str, dt.datetime] | None:
            pointer = read_pointer(store, TEXTS.name)
            if pointer is None:
                return None
            shown = _unlabelled_versions(ls, project_id, labelled)
            if shown and all(versions == {pointer.version} for versions in shown):
                return pointer.version, _now()
            return None

        _, refreshed_at = _wait("the new champion's predictions in Label Studio", refreshed, timeout_s)
        hops = _hops(client, served, start, posted, vote.annotation_id, retrain_id, refreshed_at)
    return Round(
        to_retrain_start=_since(start, retrain_running_at),
        to_refreshed=_since(start, refreshed_at),
        hops=hops,
    )


def _hops(
    client: SyncPrefectClient,
    served: ServedDeployments,
    start: dt.datetime,
    posted: dt.datetime,
    annotation_id: int,
    retrain_id: UUID,
    refreshed_at: dt.datetime,
) -> dict[str, float]:
    """Where the time went, each figure in seconds since the crossing annotation's POST."""
    project = project_resource(TEXTS.name)["prefect.resource.id"]
    events = _events(client, [ANNOTATIONS_CHANGED, LABELS_READY], project, start)
    changed = next(
        (
            e
            for e in events
            if e.event == ANNOTATIONS_CHANGED and annotation_id in e.payload.get("annotation_ids", [])
        ),
        None,
    )
    ready = next((e for e in events if e.event == LABELS_READY), None)
    promoted = next(
        iter(_events(client, [MODEL_PROMOTED], f"labelloop.model.{TEXTS.name}", start)), None
    )
    sync_id = _related_run(ready) if ready else None
    sync = _state_times(client, sync_id) if sync_id else {}
    retrain = _state_times(client, retrain_id)
    refresh_runs = _runs(client, served.name("refresh-predictions"), start)
    refresh = _state_times(client, refresh_runs[0].id) if refresh_runs else {}
    marks = {
        "annotation POST returned": posted,
        "annotations.changed emitted": changed.occurred if changed else None,
        "sync created": sync.get("SCHEDULED"),
        "sync pending": sync.get("PENDING"),
        "sync running": sync.get("RUNNING"),
        "labels.ready emitted": ready.occurred if ready else None,
        "retrain created": retrain.get("SCHEDULED"),
        "retrain pending": retrain.get("PENDING"),
        "retrain running": retrain.get("RUNNING"),
        "model.promoted emitted": promoted.occurred if promoted else None,
        "refresh created": refresh.get("SCHEDULED"),
        "refresh pending": refresh.get("PENDING"),
        "refresh running": refresh.get("RUNNING"),
        "refresh completed": refresh.get("COMPLETED"),
        "seen in Label Studio": refreshed_at,
    }
    return {name: round(_since(start, moment), 2) for name, moment in marks.items()}


def _figure(metric: str, values: list[float], baseline: list[float]) -> dict[str, Any]:
    value = statistics.median(values)
    base = statistics.median(baseline)
    return {"metric": metric, "value": round(value, 2), "baseline": round(base, 2), "ratio": round(value / base, 2)}


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark against the local stack and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--unlabelled", type=int, default=30, help="tasks left for the refresh")
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="labelloop serve --poll-seconds")
    parser.add_argument("--timeout", type=float, default=600, help="seconds any one wait may take")
    args = parser.parse_args(argv)
    threshold = SyncParams().ready_threshold
    settings = StackSettings()
    credentials = control.stack_credentials(settings)
    noop = {
        "name": "noop",
        "entrypoint": "benchmarks/noop_flow.py:noop",
        "triggers": [
            {
                "type": "event",
                "enabled": True,
                "match": {"prefect.resource.id": "labelloop.benchmark.*"},
                "expect": [PING],
            }
        ],
    }
    with (
        temporary_settings(updates={PREFECT_API_URL: settings.prefect_api_url}),
        tempfile.TemporaryDirectory() as workdir,
    ):
        store = DataStore(base_path=str(settings.data_dir))  # what the served flows use
        ls_credentials = LabelStudioCredentials(
            url=settings.label_studio_url, api_key=credentials.label_studio_token
        )
        ls = ls_credentials.get_client()
        _wipe(ls, store)
        rows, truth = _rows(args.rounds * threshold + args.unlabelled)
        store.write_parquet(f"clean/{TEXTS.name}/b1.parquet", rows)
        push_batch(
            PushParams(dataset=TEXTS.name, batch_size=len(rows), store_block=control.LOCAL_BLOCK),
            store=store,
            credentials=ls_credentials,
        )
        project = find_project(ls, TEXTS.name)
        ensure_webhook(
            ls,
            project.id,
            f"http://127.0.0.1:{settings.receiver_port}/label-studio",
            SECRET_HEADER,
            credentials.webhook_secret.get_secret_value(),
        )
        pager = ls.tasks.list(project=project.id, fields="all", include="id,data", page_size=1000)
        tasks = {t.id: truth[t.item_id] for t in parse_tasks(p.model_dump(mode="json") for p in pager)}
        order = sorted(tasks)
        team = ensure_team(ls, 2, prefix="latency")
        labelled: set[int] = set()
        rounds: list[Round] = []
        baseline: list[float] = []
        served = ServedDeployments(
            PROJECT_ROOT / "prefect.yaml",
            SERVED,
            Path(workdir),
            settings.prefect_api_url,
            extra=[noop],
            poll_seconds=args.poll_seconds,
        )
        with served:
            for number in range(args.rounds):
                baseline.append(ping(served, args.timeout))
                chunk = order[number * threshold : (number + 1) * threshold]
                played = play_round(
                    ls, store, served, project.id, project.config, team,
                    {task_id: tasks[task_id] for task_id in chunk}, labelled, args.timeout,
                )
                rounds.append(played)
                print(
                    f"round {number + 1}: retrain start {played.to_retrain_start:.2f} s, "
                    f"refreshed {played.to_refreshed:.2f} s, baseline {baseline[-1]:.2f} s",
                    flush=True,
                )
                for hop, seconds in played.hops.items():
                    print(f"    {seconds:7.2f}  {hop}")
    print(
        json.dumps(_figure("label_to_retrain_start_s", [r.to_retrain_start for r in rounds], baseline))
    )
    print(
        json.dumps(_figure("label_to_refreshed_predictions_s", [r.to_refreshed for r in rounds], baseline))
    )


if __name__ == "__main__":
    main()
