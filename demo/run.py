"""The main job on local defaults: the loop on scikit-learn's digits, running by itself.

It brings the local stack up, registers the digits data set as a user registers their
own (`labelloop dataset add`: its Label Studio project and webhook, its landing folder),
starts `labelloop serve` on the project's `prefect.yaml` (as a server of the stack, so it
outlives this command), drops the digits into the landing folder and starts the collect
deployment. From there on only events move the
loop: collect -> cleanse -> push a batch with the champion's predictions -> (a team of
annotator bots labels it through the Label Studio API, as people would) -> webhook ->
sync -> labels ready -> retrain -> gate -> promoted (refreshed predictions) or rejected
-> push of the next batch. This command only labels and watches: one line per round.
It ends with the stack and serve still up and the next batch waiting for a person,
whose labels start the next retrain with no command typed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple

import typer
from label_studio_sdk import LabelStudio
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventOrder,
    EventResourceFilter,
)
from prefect.events.schemas.events import ReceivedEvent
from pydantic import BaseModel, Field

from annotation.models import LSTask
from annotation.refresh import unlabelled_tasks
from blocks import DataStore, LabelStudioCredentials
from demo.bot import TeamConfig, annotate, ensure_team
from demo.digits import checksum_of_task_image, drop_digits
from flows.collect import collect
from collection.sources import LocalSource
from specs import DIGITS
from specs.files import DatasetFile
from stack import control
from stack.control import LOCAL_BLOCK
from stack.process import StackError, poll
from stack.prefect_yaml import PROJECT_ROOT, served_document
from stack.settings import StackSettings
from tasks.datasets import wire_dataset
from tasks.events import MODEL_PROMOTED, MODEL_REJECTED, model_resource
from tasks.label_studio import ProjectConfig, find_project
from tasks.refresh import read_tasks_with_annotations
from tasks.registry import ChampionPointer, read_pointer


class DemoParams(BaseModel):
    """How the demo runs."""

    rounds: int = Field(default=3, ge=0, le=50, description="Label-train rounds the bots play.")
    batch_size: int = Field(default=60, ge=10, le=1797, description="Items pushed per round.")
    ready_threshold: int | None = Field(
        default=None, ge=1, description="New labels that start a retrain (default: half a batch)."
    )
    bot: bool = Field(default=True, description="False: leave the labelling to people.")
    team: TeamConfig = Field(
        default_factory=lambda: TeamConfig(
            annotators=3,
            per_task=3,
            min_per_task=1,
            accuracies=[0.97, 0.9, 0.7],
            skip_rate=0.03,
        )
    )
    round_timeout_s: float = Field(
        default=900, gt=0, description="How long one hop of the loop may take before the demo gives up."
    )

    @property
    def threshold(self) -> int:
        return self.ready_threshold or self.batch_size // 2


class RoundOutcome(BaseModel):
    """What a round's retrain did, from its `model.promoted` or `model.rejected` event."""

    status: str  # promoted, not_promoted or skipped (too few usable labels)
    labels_version: str | None
    version: str | None
    accuracy: float | None
    labels: int | None
    champion: str | None
    message: str
    reason: str | None = None  # the gate's summary: `promoted: no evidence of a difference (...)`


def demo_document(params: DemoParams) -> dict[str, Any]:
    """The project's `prefect.yaml` as the demo serves it.

    Every deployment, names and schedules kept; every run of push uses the demo's
    batch size and every sync its ready threshold. A trigger's parameters replace the deployment's own `params` as a whole,
    so the values go into both.
    """
    document = served_document(
        PROJECT_ROOT / "prefect.yaml",
        names=None,
        suffix=None,
        keep_schedules=True,
    )
    extra = {
        "push": {"batch_size": params.batch_size},
        "sync": {"ready_threshold": params.threshold},
    }
    document["deployments"] = [
        with_params(entry, extra.get(entry["name"], {})) for entry in document["deployments"]
    ]
    return document


def with_params(entry: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A deployment entry whose own `params` and every trigger's carry `values` too."""
    if not values:
        return dict(entry)

    def merged(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
        parameters = dict(parameters or {})
        return {**parameters, "params": {**(parameters.get("params") or {}), **values}}

    return {
        **entry,
        "parameters": merged(entry.get("parameters")),
        "triggers": [
            {**trigger, "parameters": merged(trigger.get("parameters"))}
            for trigger in entry.get("triggers") or []
        ],
    }


def outcome_of(event: ReceivedEvent) -> RoundOutcome:
    """A round's outcome from the retrain's event."""
    payload = event.payload
    return RoundOutcome(
        status=payload.get("status") or ("promoted" if event.event == MODEL_PROMOTED else "?"),
        labels_version=payload.get("labels_version"),
        version=payload.get("version"),
        accuracy=(payload.get("metrics") or {}).get("accuracy"),
        labels=payload.get("labels"),
        champion=payload.get("champion"),
        message=str(payload.get("message") or ""),
        reason=payload.get("reason") if payload.get("gate") else None,
    )


def round_line(number: int, outcome: RoundOutcome) -> str:
    """One printed line per round: labels so far, model, holdout accuracy, the gate and why."""
    labels = "-" if outcome.labels is None else str(outcome.labels)
    if outcome.status == "skipped":
        return f"round {number}: {labels} labels, no model trained ({outcome.message})"
    accuracy = "-" if outcome.accuracy is None else f"{outcome.accuracy:.3f}"
    verdict = (
        "promoted"
        if outcome.status == "promoted"
        else f"not promoted, {outcome.champion or 'no champion'} stays"
    )
    line = (
        f"round {number}: {labels} labels, model {outcome.version}, "
        f"holdout accuracy {accuracy}, {verdict}"
    )
    if not outcome.reason:
        return line
    why = outcome.reason.removeprefix("not promoted: ").removeprefix("promoted: ")
    return f"{line} ({why})"


def run_demo(settings: StackSettings, params: DemoParams) -> None:
    """Bring the stack and the loop up, play the rounds, leave the next batch waiting."""
    for state in control.up(settings):
        typer.echo(f"{state.name:<13} {state.state:<8} {state.url}")
    landing = settings.root / "landing" / DIGITS.name
    truth = drop_digits(landing)
    typer.echo(f"dropped {len(truth)} digit images into {landing}")
    with control.stack_api(settings, control.stack_credentials(settings)):
        client = LabelStudioCredentials.load(LOCAL_BLOCK).get_client()
        declared = DatasetFile(spec=DIGITS, landing=[LocalSource(path=str(landing))])
        registration = wire_dataset(declared, client, control.webhook_target(settings))
        typer.echo(
            f"registered data set digits: project {registration.project_id}, "
            f"webhook {registration.webhook_id}"
        )
        served = control.serve(settings, demo_document(params))
        typer.echo(f"{served.name:<13} {served.state:<8} every deployment of {served.url}")
        began = dt.datetime.now(dt.UTC)
        run_deployment(f"{collect.name}/collect", timeout=0)  # the schedule would, within 30 s
        try:
            project, batch, champion = play_rounds(client, params, truth)
        except StackError as error:  # a wait ran out: say which runs did not finish
            raise StackError(f"{error}\n{unfinished_runs(read_runs_since(began))}") from None
    guesses = f"the champion {champion.version}'s predictions" if champion else "no model yet"
    typer.echo(
        f"\nThe next batch ({len(batch)} tasks, {guesses}) "
        f"waits in Label Studio: {settings.label_studio_url}/projects/{project.id}\n"
        f"Log in as {control.stack_credentials(settings).label_studio_username} (the "
        "password: `.venv/bin/labelloop stack login`, never printed unasked). "
        f"Label {params.threshold} of its tasks and a retrain starts by itself: watch it in "
        f"the Prefect UI, {settings.prefect_api_url.removesuffix('/api')}/runs.\n"
        "The loop keeps running in the background; stop everything with `make down`."
    )


def play_rounds(
    client: LabelStudio, params: DemoParams, truth: Mapping[str, str]
) -> Batch:
    """The bots' rounds, one printed line each; then the champion and the next batch."""
    team = ensure_team(client, params.team.annotators) if params.bot else []
    seen: set[int] = set()  # tasks the bots worked on (a task both skipped stays unlabelled)
    reported: set[str] = set()  # labels versions whose retrain a round line reported
    for number in range(1, (params.rounds if params.bot else 0) + 1):
        started = dt.datetime.now(dt.UTC)
        project, batch, _ = wait_for_batch(client, seen, params.round_timeout_s)
        annotate(
            client,
            project.config,
            {
                task.id: truth[checksum_of_task_image(str(task.data[project.config.data_key]))]
                for task in batch
            },
            team,
            params.team.model_copy(update={"seed": number}),
        )
        seen |= {task.id for task in batch}
        outcome = wait_for_outcome(started, reported, params.round_timeout_s)
        reported.add(outcome.labels_version or "")
        typer.echo(round_line(number, outcome))
    return wait_for_batch(client, seen, params.round_timeout_s, DataStore.load(LOCAL_BLOCK))


def read_runs_since(since: dt.datetime) -> list[tuple[str, FlowRun]]:
    """Every flow run that started since `since` or waits to start (not scheduled for
    later), with its flow's name."""
    with get_client(sync_client=True) as prefect:
        runs = prefect.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since))
        ) + prefect.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                start_time=FlowRunFilterStartTime(is_null_=True),
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(not_any_=[StateType.SCHEDULED])
                ),
            )
        )
        flows = {flow.id: flow.name for flow in prefect.read_flows()}
    return [(flows.get(run.flow_id, "?"), run) for run in runs]


def unfinished_runs(runs: list[tuple[str, FlowRun]]) -> str:
    """One line per run that did not complete (its flow, name, data set, state and the
    state's message), or a sentence when every one completed."""
    lines = [
        f"  {flow} {run.name} (data set {(run.parameters.get('params') or {}).get('dataset')}): "
        f"{run.state.name if run.state else 'no state'}"
        + (f": {run.state.message}" if run.state and run.state.message else "")
        for flow, run in runs
        if run.state is None or run.state.type != StateType.COMPLETED
    ]
    if not lines:
        return f"each of the {len(runs)} flow runs since the demo began completed"
    return "flow runs that did not complete:\n" + "\n".join(lines)

class Batch(NamedTuple):
    """Unlabelled tasks waiting in the digits project, and the champion they show."""

    project: ProjectConfig
    tasks: list[LSTask]
    champion: ChampionPointer | None


def wait_for_batch(
    client: LabelStudio, seen: set[int], timeout_s: float, store: DataStore | None = None
) -> Batch:
    """The digits project and its unlabelled tasks not in `seen`, once there are any.

    With `store`, only once every one of them shows the predictions of the champion of
    that moment, read again on each look: a push imports its tasks first, then their
    predictions; a refresh follows a promotion; and a degraded champion's retrain may
    promote another model while the demo waits.
    """

    def probe() -> Batch | None:
        project = find_project.fn(client, DIGITS.name)
        if project is None:
            return None
        champion = read_pointer(store, DIGITS.name) if store else None
        waiting = unlabelled_tasks(read_tasks_with_annotations(client, project.id))
        fresh = [task for task in waiting if task.id not in seen]
        if not fresh or (champion and not all(_shows(t, champion.version) for t in fresh)):
            return None
        return Batch(project, fresh, champion)

    what = "new batch of unlabelled tasks in Label Studio"
    return poll(what + (" showing the champion's predictions" if store else ""), probe, timeout_s)


def _shows(task: LSTask, version: str) -> bool:
    return any(prediction.model_version == version for prediction in task.predictions)


def wait_for_outcome(since: dt.datetime, reported: set[str], timeout_s: float) -> RoundOutcome:
    """The first retrain since `since` on a labels version not in `reported`.

    A degraded champion is retrained at once on the labels version just trained on
    (`model.degraded`, see Monitoring): that retrain is not a round of its own.
    """
    resource = model_resource(DIGITS.name)["prefect.resource.id"]

    def probe() -> RoundOutcome | None:
        with get_client(sync_client=True) as prefect:
            found = prefect.read_events(
                filter=EventFilter(
                    event=EventNameFilter(name=[MODEL_PROMOTED, MODEL_REJECTED]),
                    resource=EventResourceFilter(id=[resource]),
                    occurred=EventOccurredFilter(since=since),
                    order=EventOrder.ASC,
                ),
                limit=50,
            ).events
        outcomes = [outcome_of(event) for event in found]
        fresh = [o for o in outcomes if (o.labels_version or "") not in reported]
        return fresh[0] if fresh else None

    return poll("retrain (labels.ready -> retrain -> gate)", probe, timeout_s)
