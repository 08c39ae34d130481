"""Every trigger of prefect.yaml, end to end on the real Prefect server.

A trigger whose template renders a bad parameter creates no run; the only trace is a
`prefect.automation.action.failed` event. So each trigger is fired with a realistic
event, and the run it creates must exist with the templated parameters.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterCreatedBy,
)
from prefect.events import emit_event
from prefect.events.filters import EventFilter, EventNameFilter

from stack.prefect_yaml import read_deployments
from stack.serving import runner_deployment
from tasks import events
from tests.served import remove_deployments

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEGRADED_REASON = (
    "live accuracy 0.512 [0.443, 0.580] on 200 items of labels version "
    "20261122T070000000000Z-abc123, holdout 0.931, margin 0.150: degraded"
)


def _fired(unique: str) -> list[tuple[str, dict[str, str], dict[str, Any], dict[str, dict[str, Any]]]]:
    """(event, resource, payload, {deployment: expected params}) for every trigger."""
    version = "20261122T070000000000Z-abc123"
    return [
        (events.BATCH_COLLECTED, events.dataset_resource(unique), {"batch_id": "b1", "rows": 3},
         {"cleanse": {"dataset": unique}}),
        (events.BATCH_CLEANSED, events.dataset_resource(unique), {"batch_id": "b1", "clean": 3},
         {"push": {"dataset": unique, "reason": "cleansed batch b1"}}),
        (events.ANNOTATIONS_CHANGED, events.project_resource(unique), {"action": "ANNOTATION_CREATED"},
         {"sync": {"dataset": unique, "reason": "ANNOTATION_CREATED in Label Studio"}}),
        (events.LABELS_READY, events.project_resource(unique), {"labels_version": version, "gained": 25},
         {"retrain": {"dataset": unique, "labels_version": version, "reason": f"25 new labels ({version})"}}),
        (events.MODEL_PROMOTED, events.model_resource(unique), {"version": version, "metrics": {}},
         {"push": {"dataset": unique, "reason": f"model {version} promoted"},
          "refresh-predictions": {"dataset": unique}}),
        (events.MODEL_REJECTED, events.model_resource(unique),
         {"version": None, "status": "skipped", "champion": version, "metrics": {},
          "message": "not trained on v2 (3 usable labels): need at least 2 classes"},
         {"push": {"dataset": unique, "reason": "no new champion: not trained on v2 (3 usable "
                   "labels): need at least 2 classes"}}),
        (events.LABELS_UPDATED, events.project_resource(unique),
         {"dataset": unique, "labels_version": version, "labels": 40, "added": 3},
         {"monitor": {"dataset": unique, "labels_version": version,
                      "reason": f"labels version {version}"}}),
        (events.MODEL_DEGRADED, events.model_resource(unique),
         {"dataset": "digits", "model_version": version, "reason": DEGRADED_REASON},
         {"retrain": {"dataset": "digits", "model_name": unique, "only_new_labels": True,
                      "reason": f"model {version} degraded: {DEGRADED_REASON}"}}),
    ]


@pytest.fixture
def applied(prefect_server: str, unique: str) -> Iterator[dict[str, UUID]]:
    """prefect.yaml's deployments applied under unique names; removed with their automations."""
    ids: dict[str, UUID] = {}
    try:
        for spec in read_deployments(ROOT / "prefect.yaml"):
            renamed = spec.model_copy(update={"name": f"{spec.name}-{unique}"})
            ids[spec.name] = runner_deployment(renamed, ROOT).apply()
        yield ids
    finally:
        remove_deployments(ids.values())


def _runs(deployment_id: UUID) -> list[Any]:
    """The runs automations created (a deployment's schedule creates a hundred of its own)."""
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(created_by=FlowRunFilterCreatedBy(type_=["AUTOMATION"])),
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        )


def test_every_trigger_template_creates_its_run(applied: dict[str, UUID], unique: str) -> None:
    triggered = {name for *_, expected in _fired(unique) for name in expected}
    declared = {spec.name for spec in read_deployments(ROOT / "prefect.yaml") if spec.triggers}
    assert triggered == declared, "every deployment with a trigger is exercised here"

    time.sleep(2)  # the automations are loaded by the trigger service a moment after creation
    for event, resource, payload, _ in _fired(unique):
        emit_event(event=event, resource=resource, payload=payload)

    expected_runs: dict[str, list[dict[str, Any]]] = {}
    for *_, expected in _fired(unique):
        for name, params in expected.items():
            expected_runs.setdefault(name, []).append(params)
    # an action whose run insert meets SQLite's "database is locked" is retried by the
    # server after 2, 4, 8, 16 and 32 s (see docs/benchmarks.md, "How fast the loop reacts")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        got = {name: _runs(applied[name]) for name in expected_runs}
        if all(len(got[name]) >= len(want) for name, want in expected_runs.items()):
            break
        time.sleep(1)
    for name, want in expected_runs.items():
        params = [run.parameters["params"] for run in got[name]]
        for expected in want:
            assert any(expected.items() <= p.items() for p in params), (name, expected, params)
        # every run reads the stack's DataStore block, not a folder under its cwd
        assert {p.get("store_block") for p in params} == {"local"}, (name, params)

    with get_client(sync_client=True) as client:
        failed = client.read_events(
            filter=EventFilter(event=EventNameFilter(name=["prefect.automation.action.failed"])), limit=50
        ).events
    ours = {f"prefect.deployment.{i}" for i in applied.values()}
    assert not [e for e in failed if any(r.id in ours for r in e.related)], "an action failed"


def test_serve_builds_every_declared_deployment() -> None:
    specs = read_deployments(ROOT / "prefect.yaml")
    assert {s.name for s in specs} == {
        "collect", "cleanse", "push", "sync", "retrain", "refresh-predictions", "monitor"
    }
    for spec in specs:
        deployment = runner_deployment(spec, ROOT)
        assert deployment.name == spec.name
        assert len(deployment.triggers) == len(spec.triggers)
