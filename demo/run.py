"""The main job on local defaults: the whole loop on scikit-learn's digits, round by round.

It brings the local stack up, drops the digits into the landing folder and runs the
loop's own flows against the stack's servers: collect -> cleanse -> push a batch (with
the champion's predictions) -> a team of annotator bots labels it through the Label
Studio API -> sync labels -> retrain, gate, promote -> refresh predictions -> next
batch. It ends with the next batch waiting in Label Studio for a person.
"""

from __future__ import annotations

from pathlib import Path

import typer
from prefect import flow
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import BaseModel, Field

from blocks import DataStore, LabelStudioCredentials
from collection.sources import LocalSource
from demo.bot import TeamConfig, annotate, ensure_team
from demo.digits import checksum_of_task_image, drop_digits
from flows.annotate import PushParams, PushResult, push_batch
from flows.cleanse import CleanseParams, cleanse
from flows.collect import CollectParams, collect
from flows.preannotate import RefreshParams, refresh_predictions
from flows.sync import SyncParams, sync_labels
from flows.train import TrainParams, retrain_model
from specs import DIGITS
from stack import control
from stack.control import LOCAL_BLOCK
from stack.settings import StackSettings
from tasks.label_studio import find_project, require_project
from tasks.refresh import list_unlabelled_tasks


class DemoParams(BaseModel):
    """How the demo runs."""

    rounds: int = Field(default=3, ge=0, le=50, description="Label-train rounds the bots play.")
    batch_size: int = Field(default=60, ge=10, le=1797, description="Items pushed per round.")
    bot: bool = Field(default=True, description="False: leave the labelling to people.")
    team: TeamConfig = Field(
        default_factory=lambda: TeamConfig(annotators=3, accuracy=0.95, skip_rate=0.03)
    )


def run_demo(settings: StackSettings, params: DemoParams) -> None:
    """Bring the stack up and run the loop on it; print one line per round."""
    for state in control.up(settings):
        typer.echo(f"{state.name:<13} {state.state:<8} {state.url}")
    with temporary_settings(updates={PREFECT_API_URL: settings.prefect_api_url}):
        waiting = demo_loop(params, str(settings.root / "landing" / DIGITS.name))
    typer.echo(
        f"\nThe next batch ({waiting.imported} tasks, predictions by "
        f"{waiting.model_version or 'no model yet'}) waits in Label Studio: "
        f"{settings.label_studio_url}/projects/{waiting.project_id}\n"
        "Log in with the email and password from `.venv/bin/labelloop stack login`.\n"
        f"Prefect UI: {settings.prefect_api_url.removesuffix('/api')}. Stop everything with `make down`."
    )


@flow(name="labelloop-demo")
def demo_loop(params: DemoParams, landing: str) -> PushResult:
    """The loop's flows, round by round, with the annotator bots; returns the waiting batch."""
    truth = drop_digits(Path(landing))
    store = DataStore.load(LOCAL_BLOCK)
    credentials = LabelStudioCredentials.load(LOCAL_BLOCK)
    collected = collect(
        CollectParams(dataset=DIGITS.name, sources=[LocalSource(path=landing)]), store=store
    )
    cleansed = cleanse(CleanseParams(dataset=DIGITS.name), store=store)
    typer.echo(
        f"\ncollected {collected.new_files} new files ({collected.new_rows} rows); "
        f"cleansed {len(cleansed.batches)} new batches of {DIGITS.name}"
    )
    push = PushParams(dataset=DIGITS.name, batch_size=params.batch_size, store_block=LOCAL_BLOCK)
    sync = SyncParams(
        dataset=DIGITS.name, ready_threshold=params.batch_size // 2, store_block=LOCAL_BLOCK
    )
    client = credentials.get_client()
    team = ensure_team(client, params.team.annotators) if params.bot else []
    rounds = params.rounds if params.bot else 0
    for round_ in range(1, rounds + 1):
        pushed = push_batch(push, store=store, credentials=credentials)
        project = require_project(find_project(client, DIGITS.name), DIGITS.name)
        task_truth = {
            task.id: truth[checksum_of_task_image(str(task.data[project.config.data_key]))]
            for task in list_unlabelled_tasks(client, project.id)
        }
        annotate(
            client,
            project.config,
            task_truth,
            team,
            params.team.model_copy(update={"seed": round_}),
        )
        synced = sync_labels(sync, store=store, credentials=credentials)
        line = f"round {round_}: pushed {pushed.imported}, labels {synced.labels}"
        if synced.announced:
            trained = retrain_model(
                TrainParams(
                    dataset=DIGITS.name, store_block=LOCAL_BLOCK, reason=f"demo round {round_}"
                ),
                store=store,
            )
            accuracy = f"{trained.metrics.accuracy:.3f}" if trained.metrics else "-"
            line += (
                f", model {trained.version or '-'} ({trained.status}), accuracy {accuracy}, "
                f"champion {trained.champion or '-'}"
            )
            if trained.status == "promoted":
                refresh_predictions(
                    RefreshParams(dataset=DIGITS.name, store_block=LOCAL_BLOCK),
                    store=store,
                    label_studio=credentials,
                )
        typer.echo(line)
    return push_batch(push, store=store, credentials=credentials)
