"""The main job: `labelloop demo` on a throwaway stack of its own, end to end.

The demo's loop moves by events alone (serve, automations, webhooks); after it returns,
the test labels the waiting batch as a person would and a retrain starts with no
further call: what the README and docs/getting-started.md promise a user who opens Label Studio.
"""

from __future__ import annotations

import datetime as dt

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterCreatedBy,
)
from prefect.client.schemas.objects import FlowRun

from blocks import DataStore, LabelStudioCredentials
from demo.bot import TeamConfig, annotate, ensure_team
from demo.digits import checksum_of_task_image, drop_digits
from demo.run import DemoParams, run_demo, wait_for_batch, wait_for_outcome
from specs import DIGITS
from stack import control
from stack.control import LOCAL_BLOCK
from stack.settings import StackSettings

pytestmark = pytest.mark.integration


def test_the_demo_runs_the_loop_by_itself_and_leaves_a_batch_for_a_person(
    other: StackSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    params = DemoParams(rounds=2, batch_size=40)
    run_demo(other, params)
    out = capsys.readouterr().out
    rounds = [line for line in out.splitlines() if line.startswith("round ")]
    assert [line.split(":")[0] for line in rounds] == ["round 1", "round 2"], out
    assert f"{other.label_studio_url}/projects/" in out

    states = {s.name: s.state for s in control.status(other)}
    assert states["serve"] == "running", "the loop goes on after the demo returns"

    with control.stack_api(other, control.stack_credentials(other)):
        client = LabelStudioCredentials.load(LOCAL_BLOCK).get_client()
        # the bots labelled every task they were given: the waiting batch is the next one;
        # once a round promoted a model, every waiting task shows the champion's guesses
        # (the wait fails if they never do)
        project, batch, champion = wait_for_batch(client, set(), 60, DataStore.load(LOCAL_BLOCK))
        labelled_before = _automation_runs("retrain-model")
        assert len(labelled_before) >= 2, "each round's retrain was started by an automation"
        if champion is not None:
            assert "the champion " in out and "'s predictions) waits in Label Studio" in out

        # a person labels half a batch in the browser; nothing else is called
        truth = drop_digits(other.root / "landing" / DIGITS.name)
        started = dt.datetime.now(dt.UTC)
        person = batch[: params.threshold]
        annotate(
            client,
            project.config,
            {
                task.id: truth[checksum_of_task_image(str(task.data[project.config.data_key]))]
                for task in person
            },
            ensure_team(client, 1, prefix="person"),
            TeamConfig(annotators=1, accuracy=1.0, skip_rate=0.0),
        )
        # the retrain on labels that include the person's (one on an earlier version,
        # e.g. of the bots' last labels, may come first)
        store = DataStore.load(LOCAL_BLOCK)
        reported: set[str] = set()
        while True:
            outcome = wait_for_outcome(started, reported, params.round_timeout_s)
            assert outcome.labels_version is not None
            trained = store.read_parquet(
                f"labels/{DIGITS.name}/{outcome.labels_version}.parquet", columns=["task_id"]
            )
            if {task.id for task in person} <= set(trained["task_id"].astype(int)):
                break
            reported.add(outcome.labels_version)
        assert len(_automation_runs("retrain-model")) > len(labelled_before)


def _automation_runs(flow_name: str) -> list[FlowRun]:
    """Runs of the flow that automations created (no command, no schedule)."""
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
            flow_run_filter=FlowRunFilter(created_by=FlowRunFilterCreatedBy(type_=["AUTOMATION"])),
        )
