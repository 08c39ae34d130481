"""The demo's served prefect.yaml and its round lines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from uuid import uuid4

import pytest
import yaml
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.events.schemas.events import ReceivedEvent, Resource
from prefect.states import Completed, Failed
from pydantic import ValidationError

from demo.bot import TeamConfig
from demo.run import DemoParams, demo_document, outcome_of, round_line, unfinished_runs
from stack.prefect_yaml import PROJECT_ROOT, read_deployments
from tasks.events import MODEL_PROMOTED, MODEL_REJECTED, model_resource


def _served(tmp_path: Path, params: DemoParams) -> dict[str, object]:
    path = tmp_path / "prefect.yaml"
    path.write_text(yaml.safe_dump(demo_document(params)))
    return {spec.name: spec for spec in read_deployments(path)}


def test_every_run_of_push_and_sync_gets_the_demo_settings(tmp_path: Path) -> None:
    specs = _served(tmp_path, DemoParams(batch_size=40, ready_threshold=12))
    project = {spec.name for spec in read_deployments(PROJECT_ROOT / "prefect.yaml")}
    assert set(specs) == project, "the demo serves every deployment under its own name"

    push = specs["push"]
    assert push.parameters["params"]["batch_size"] == 40
    assert len(push.triggers) == 3
    for trigger in push.triggers:
        # a trigger's params replace the deployment's whole: the batch size is in each
        assert trigger["parameters"]["params"]["batch_size"] == 40
        assert trigger["parameters"]["params"]["dataset"] == "{{ event.resource.name }}"

    sync = specs["sync"]
    assert sync.schedules, "the scheduled sync makes up a lost webhook"
    assert sync.parameters["params"] == {
        "store_block": "local", "ready_threshold": 12
    }
    assert sync.triggers[0]["parameters"]["params"]["ready_threshold"] == 12

    # collect names no data set: every registered one, from its registered landing
    assert specs["collect"].parameters["params"] == {"store_block": "local"}
    for spec in specs.values():  # every run of every deployment uses the stack's store
        assert spec.parameters.get("params", {}).get("store_block", "local") == "local"
        for trigger in spec.triggers:
            assert trigger["parameters"]["params"]["store_block"] == "local"
    assert specs["retrain"].triggers == [
        spec.triggers for spec in read_deployments(PROJECT_ROOT / "prefect.yaml")
        if spec.name == "retrain"
    ][0], "deployments the demo does not tune are served as declared"


def test_the_threshold_defaults_to_half_a_batch(tmp_path: Path) -> None:
    specs = _served(tmp_path, DemoParams(batch_size=30))
    assert specs["sync"].parameters["params"]["ready_threshold"] == 15


def _event(name: str, payload: dict[str, object]) -> ReceivedEvent:
    return ReceivedEvent(
        occurred=dt.datetime.now(dt.UTC),
        received=dt.datetime.now(dt.UTC),
        event=name,
        resource=Resource(model_resource("digits")),
        payload=payload,
        id=uuid4(),
    )


def test_a_round_line_says_labels_model_accuracy_and_the_gate() -> None:
    promoted = outcome_of(
        _event(
            MODEL_PROMOTED,
            {"version": "v2", "status": "promoted", "metrics": {"accuracy": 0.9312},
             "labels": 118, "champion": "v2"},
        )
    )
    assert round_line(2, promoted) == (
        "round 2: 118 labels, model v2, holdout accuracy 0.931, promoted"
    )
    rejected = outcome_of(
        _event(
            MODEL_REJECTED,
            {"version": "v3", "status": "not_promoted", "metrics": {"accuracy": 0.9},
             "champion": "v2"},
        )
    )
    assert round_line(3, rejected).endswith("holdout accuracy 0.900, not promoted, v2 stays")
    gated = outcome_of(
        _event(
            MODEL_PROMOTED,
            {"version": "v4", "status": "promoted", "metrics": {"accuracy": 0.95},
             "labels": 80, "champion": "v4",
             "reason": "promoted: no evidence of a difference (accuracy diff +0.012 "
             "[-0.021, +0.045] on 64 paired items), trained on 80 labels vs 20",
             "gate": {"outcome": "no_evidence"}},
        )
    )
    assert round_line(4, gated) == (
        "round 4: 80 labels, model v4, holdout accuracy 0.950, promoted (no evidence of a "
        "difference (accuracy diff +0.012 [-0.021, +0.045] on 64 paired items), trained on "
        "80 labels vs 20)"
    )
    skipped = outcome_of(
        _event(
            MODEL_REJECTED,
            {"version": None, "status": "skipped", "metrics": {}, "labels": 9, "champion": None,
             "message": "not trained on v1 (9 usable labels): a class with fewer than 2"},
        )
    )
    assert round_line(1, skipped) == (
        "round 1: 9 labels, no model trained "
        "(not trained on v1 (9 usable labels): a class with fewer than 2)"
    )


def test_the_demo_team_is_uneven() -> None:
    team = DemoParams().team
    assert [team.accuracy_of(n) for n in range(team.annotators)] == [0.97, 0.9, 0.7]
    assert (team.min_per_task, team.per_task) == (1, 3)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"annotators": 3, "accuracies": [0.9, 0.8]}, "2 values for 3 annotators"),
        ({"annotators": 1, "accuracies": [1.5]}, "within 0-1"),
        ({"per_task": 1, "min_per_task": 2}, "exceeds per_task"),
    ],
)
def test_an_inconsistent_team_is_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TeamConfig(**fields)


def _run(name: str, state: State, dataset: str | None = "digits") -> FlowRun:
    return FlowRun(
        name=name, flow_id=uuid4(), state=state, parameters={"params": {"dataset": dataset}}
    )


def test_a_timed_out_demo_names_each_run_that_did_not_complete() -> None:
    runs = [
        ("retrain-model", _run("calm-fox", Completed())),
        (
            "push-batch",
            _run(
                "odd-owl",
                State(
                    type=StateType.SCHEDULED,
                    name="AwaitingConcurrencySlot",
                    message="Deployment concurrency limit reached.",
                ),
            ),
        ),
        ("refresh-predictions", _run("shy-elk", Failed(message="Label Studio unreachable"))),
    ]
    report = unfinished_runs(runs)
    assert "calm-fox" not in report
    assert (
        "push-batch odd-owl (data set digits): AwaitingConcurrencySlot: "
        "Deployment concurrency limit reached." in report
    )
    assert "refresh-predictions shy-elk (data set digits): Failed: Label Studio unreachable" in report
    assert unfinished_runs(runs[:1]) == "each of the 1 flow runs since the demo began completed"
