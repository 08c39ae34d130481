"""How fast the loop reacts to people: from the annotation that crosses the ready threshold
to the retrain run starting, and to the new champion's predictions in Label Studio.

    labelloop stack up && python -m benchmarks.loop_latency [--rounds 5] [--after-quiet]

Runs against the local stack of LABELLOOP_PORT_BASE. The sync, retrain and
refresh-predictions deployments of prefect.yaml are served by `labelloop serve` in a
subprocess under unique names (schedules dropped, so only events start runs), beside a
trivial `noop` deployment triggered by its own event. The shipped `texts` data set is
wiped and rebuilt (clean rows, a pushed batch, the webhook, two annotator bots).

Per round two bots label as a person does, one task every `--pace` seconds, until the
sync's ready threshold is crossed; the crossing annotation is timed to (a) the retrain
run's Running state on the server and (b) Label Studio showing the new champion's
model_version on every unlabelled task (polled every 0.5 s). With `--after-quiet` the
crossing annotation waits until the loop is idle (the sync session over), which times
a cold start. The registry is emptied before each round so every retrain is a first
model and is promoted (the gate never promotes a tie), which the refresh needs; a
round ends when every run has ended. Baseline: an event emitted for the `noop`
deployment to its run's Running state, once per round, same serve process.

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
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

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
from pydantic import BaseModel

from benchmarks.noop_flow import PING
from blocks import DataStore
from demo.bot import TeamConfig, annotate, ensure_team
from flows.sync import SyncParams
from specs import TEXTS
from stack import control
from stack.process import poll
from stack.prefect_yaml import PROJECT_ROOT
from stack.settings import StackSettings
from storage.layout import model_prefix
from tasks.events import ANNOTATIONS_CHANGED, LABELS_READY, MODEL_PROMOTED, project_resource
from tasks.registry import read_pointer
from tasks.state import read_labels_pointer
from tests.conftest import Stack
from tests.integration.loop import LOOP, TextsProject, push_texts, shown_versions
from tests.served import ServedDeployments

ACTIVE = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
STARTED = {StateType.RUNNING, StateType.COMPLETED, StateType.FAILED, StateType.CRASHED}


class Round(BaseModel):
    """One timed round: seconds from the crossing annotation, per hop."""

    to_retrain_start: float
    to_refreshed: float
    hops: dict[str, float]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _since(start: dt.datetime, moment: dt.datetime | None) -> float:
    return float("nan") if moment is None else (moment - start).total_seconds()


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


def _wait_idle(served: ServedDeployments, store: DataStore, labels: int, timeout_s: float) -> None:
    """Until the sync has merged `labels` labels and no served run is active."""
    since = _now() - dt.timedelta(hours=1)

    def probe() -> bool | None:
        pointer = read_labels_pointer(store, TEXTS.name)
        if labels and (pointer is None or pointer.labels < labels):
            return None
        with get_client(sync_client=True) as client:
            if any(_runs(client, served.name(base), since, ACTIVE) for base in LOOP):
                return None
        return True

    poll(f"sync merging {labels} labels with every run ended", probe, timeout_s)


def ping(served: ServedDeployments, timeout_s: float) -> dict[str, float]:
    """Prefect's own trigger-to-run time: the `noop` event to its run's Running state.

    Returns:
        Seconds from the emit to the run's creation, Pending and Running states.
    """
    start = _now()
    emit_event(
        event=PING, resource={"prefect.resource.id": f"labelloop.benchmark.{uuid4().hex[:8]}"}
    )
    with get_client(sync_client=True) as client:

        def started() -> dict[str, dt.datetime] | None:
            for run in _runs(client, served.name("noop"), start - dt.timedelta(seconds=5)):
                if run.state_type in STARTED:
                    times = _state_times(client, run.id)
                    if times["SCHEDULED"] >= start:
                        return times
            return None

        times = poll("noop run started", started, timeout_s, every_s=0.5)
    return {
        state: round(_since(start, times[state]), 2)
        for state in ("SCHEDULED", "PENDING", "RUNNING")
    }


def play_round(
    ls: LabelStudio,
    store: DataStore,
    served: ServedDeployments,
    project: TextsProject,
    team: list[int],
    tasks: list[int],
    labelled: set[int],
    pace_s: float,
    after_quiet: bool,
    timeout_s: float,
) -> Round:
    """Annotate up to the threshold at a person's pace and time the crossing annotation."""
    for key in store.list_keys(model_prefix(TEXTS.name)):
        store.delete(key)  # every round's model is a first model: promoted
    *warm, crossing = tasks
    bots = TeamConfig(accuracy=1.0, skip_rate=0.0, seed=len(labelled))
    for task_id in warm:
        annotate(ls, project.config, {task_id: project.truth[task_id]}, team, bots)
        labelled.add(task_id)
        time.sleep(pace_s)
    if after_quiet:
        _wait_idle(served, store, len(labelled), timeout_s)
    start = _now()
    vote = annotate(ls, project.config, {crossing: project.truth[crossing]}, team, bots)[0]
    posted = _now()
    labelled.add(crossing)
    with get_client(sync_client=True) as client:

        def retrain_running() -> tuple[UUID, dt.datetime] | None:
            for run in _runs(client, served.name("retrain"), start):
                if run.state_type in STARTED:
                    return run.id, _state_times(client, run.id)["RUNNING"]
            return None

        retrain_id, retrain_running_at = poll(
            "retrain run started", retrain_running, timeout_s, every_s=0.5
        )

        def refreshed() -> dt.datetime | None:
            pointer = read_pointer(store, TEXTS.name)
            if pointer is None:
                return None
            seen = _now()
            return seen if shown_versions(ls, project.id, labelled) == {pointer.version} else None

        refreshed_at = poll(
            "new champion's predictions in Label Studio", refreshed, timeout_s, every_s=0.5
        )
        hops = _hops(client, served, start, posted, vote.annotation_id, retrain_id, refreshed_at)
    _wait_idle(served, store, len(labelled), timeout_s)
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
    """Where the time went: seconds from the crossing annotation's POST to each mark."""
    project = project_resource(TEXTS.name)["prefect.resource.id"]
    events = _events(client, [ANNOTATIONS_CHANGED, LABELS_READY], project, start)
    changed = next(
        (
            e
            for e in events
            if e.event == ANNOTATIONS_CHANGED
            and annotation_id in e.payload.get("annotation_ids", [])
        ),
        None,
    )
    ready = next((e for e in events if e.event == LABELS_READY), None)
    promoted = next(
        iter(_events(client, [MODEL_PROMOTED], f"labelloop.model.{TEXTS.name}", start)), None
    )
    pass_id = _related_run(ready) if ready else None
    sync_pass = _state_times(client, pass_id) if pass_id else {}
    retrain = _state_times(client, retrain_id)
    refresh_runs = _runs(client, served.name("refresh-predictions"), start)
    refresh = _state_times(client, refresh_runs[0].id) if refresh_runs else {}
    marks = {
        "annotation POST returned": posted,
        "annotations.changed emitted (receiver)": changed.occurred if changed else None,
        "sync pass running": sync_pass.get("RUNNING"),
        "labels.ready emitted": ready.occurred if ready else None,
        "labels.ready received by the server": ready.received if ready else None,
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
    return {
        "metric": metric,
        "value": round(value, 2),
        "baseline": round(base, 2),
        "ratio": round(value / base, 2),
    }


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark against the local stack and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pace", type=float, default=2.0, help="seconds between annotations")
    parser.add_argument("--after-quiet", action="store_true", help="time a cold start instead")
    parser.add_argument("--unlabelled", type=int, default=30, help="tasks left for the refresh")
    parser.add_argument(
        "--poll-seconds", type=float, default=1.0, help="labelloop serve --poll-seconds"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds any one wait may take")
    args = parser.parse_args(argv)
    threshold = SyncParams().ready_threshold
    settings = StackSettings()
    stack = Stack(settings=settings, credentials=control.stack_credentials(settings), states=[])
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
    suffix = "_after_quiet" if args.after_quiet else ""
    with (
        control.stack_api(settings, stack.credentials),
        tempfile.TemporaryDirectory() as workdir,
    ):
        store = DataStore(base_path=str(settings.data_dir))  # what the served flows use
        ls = stack.label_studio().get_client()
        pushed = args.rounds * threshold + args.unlabelled
        project = push_texts(stack, ls, store, rows=pushed, pushed=pushed)
        order = sorted(project.truth)
        team = ensure_team(ls, 2, prefix="latency")
        labelled: set[int] = set()
        rounds: list[Round] = []
        baseline: list[float] = []
        served = ServedDeployments(
            PROJECT_ROOT / "prefect.yaml",
            LOOP,
            Path(workdir),
            stack.prefect_env(),
            extra=[noop],
            poll_seconds=args.poll_seconds,
        )
        with served:
            for number in range(args.rounds):
                pinged = ping(served, args.timeout)
                baseline.append(pinged["RUNNING"])
                chunk = order[number * threshold : (number + 1) * threshold]
                played = play_round(
                    ls,
                    store,
                    served,
                    project,
                    team,
                    chunk,
                    labelled,
                    args.pace,
                    args.after_quiet,
                    args.timeout,
                )
                rounds.append(played)
                print(
                    f"round {number + 1}: retrain start {played.to_retrain_start:.2f} s, "
                    f"refreshed {played.to_refreshed:.2f} s, baseline {baseline[-1]:.2f} s "
                    f"(noop created {pinged['SCHEDULED']:.2f} s, pending {pinged['PENDING']:.2f} s)",
                    flush=True,
                )
                for hop, seconds in played.hops.items():
                    print(f"    {seconds:7.2f}  {hop}", flush=True)
    for metric, values in (
        ("label_to_retrain_start", [r.to_retrain_start for r in rounds]),
        ("label_to_refreshed_predictions", [r.to_refreshed for r in rounds]),
    ):
        print(json.dumps(_figure(f"{metric}{suffix}_s", values, baseline)))


if __name__ == "__main__":
    main()
