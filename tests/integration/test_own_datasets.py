"""A team's own data set beside a shipped one, through the shipped `prefect.yaml` alone.

The test writes a spec file (a data set the project does not ship), registers it and the
shipped `texts` the way a user does (`wire_dataset`, what `labelloop dataset add` runs:
Label Studio project, webhook naming the data set, landing), drops files into both
landing folders and starts the collect deployment once, with no data set named. From
there the served deployments of `prefect.yaml` do everything: collect -> cleanse ->
push -> (bots label through the API) -> webhook -> sync -> retrain -> refresh.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pandas as pd
import pytest
import yaml
from label_studio_sdk import LabelStudio
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterStartTime,
)
from prefect.deployments import run_deployment
from prefect.events import emit_event
from sklearn.datasets import load_wine

from annotation.models import parse_tasks
from blocks import DataStore
from collection.sources import LocalSource
from demo.bot import TeamConfig, annotate, ensure_team
from demo.run import with_params
from specs import TEXTS
from specs.files import DatasetFile, read_dataset_file
from stack import control
from stack.prefect_yaml import PROJECT_ROOT
from stack.serving import deployment_ids
from tasks.datasets import unwire_dataset, wire_dataset
from tasks.events import BATCH_COLLECTED, dataset_resource
from tasks.label_studio import find_project, require_project
from tasks.registry import read_pointer
from tests.conftest import Stack
from tests.integration.loop import WORDS, diagnosis, shown_versions, wipe_texts
from tests.served import ServedDeployments

pytestmark = pytest.mark.integration

STAGES = ("collect", "cleanse", "push", "sync", "retrain", "monitor", "refresh-predictions")
EXAMPLE = PROJECT_ROOT / "docs" / "examples" / "wine" / "wine.yaml"
BATCH = 30
LABELLED = 20
CULTIVARS = ["cultivar-a", "cultivar-b", "cultivar-c"]
KEY = ["alcohol", "malic_acid", "magnesium", "proline"]


def _wine_truth() -> tuple[pd.DataFrame, dict[tuple[float, ...], str]]:
    frame = load_wine(as_frame=True).frame
    truth = {
        tuple(round(float(row[c]), 3) for c in KEY): CULTIVARS[int(row["target"])]
        for _, row in frame.iterrows()
    }
    return frame, truth


def balanced(truth: dict[int, str], count: int) -> dict[int, str]:
    """`count` tasks taken round-robin over the classes, so the first model can be evaluated."""
    by_class: dict[str, list[int]] = {}
    for task_id, label in truth.items():
        by_class.setdefault(label, []).append(task_id)
    chosen: dict[int, str] = {}
    while len(chosen) < min(count, len(truth)):
        for label, ids in by_class.items():
            if ids and len(chosen) < count:
                chosen[ids.pop(0)] = label
    return chosen


def _changes() -> dict[str, dict[str, Any]]:
    """Small batches and an early retrain, in every run of push and sync."""
    entries = {e["name"]: e for e in yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())["deployments"]}
    tuned = {"push": {"batch_size": BATCH}, "sync": {"ready_threshold": LABELLED}}
    changes = {}
    for name, values in tuned.items():
        entry = with_params(entries[name], values)
        changes[name] = {"parameters": entry["parameters"], "triggers": entry["triggers"]}
    return changes


def _tasks(ls: LabelStudio, project_id: int) -> list[Any]:
    pager = ls.tasks.list(project=project_id, fields="all", include="id,data", page_size=1000)
    return parse_tasks(task.model_dump(mode="json") for task in pager)


def _wait_for_tasks(ls: LabelStudio, project_id: int, count: int, timeout_s: float, why: str) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        tasks = _tasks(ls, project_id)
        if len(tasks) >= count:
            return tasks
        time.sleep(2)
    raise AssertionError(f"fewer than {count} tasks in project {project_id} after {timeout_s} s\n{why}")


def _wait_for_champions(
    ls: LabelStudio, store: DataStore, projects: dict[str, tuple[int, set[int]]], served: ServedDeployments, timeout_s: float
) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    shown: dict[str, str] = {}
    while time.monotonic() < deadline and len(shown) < len(projects):
        assert served.running(), f"labelloop serve exited\n{served.log_tail()}"
        for name, (project_id, labelled) in projects.items():
            pointer = read_pointer(store, name)
            if pointer is not None and shown_versions(ls, project_id, labelled) == {pointer.version}:
                shown[name] = pointer.version
        time.sleep(2)
    return shown


def _runs_since(served: ServedDeployments, since: datetime) -> list[Any]:
    ids = deployment_ids(served.served_names)
    with get_client(sync_client=True) as client:
        top = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=list(ids.values()))),
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)),
        )
        every = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since))
        )
    ours = {run.id for run in top}
    # subflows of the served runs, at any depth (the scheduled sync -> a data set's
    # session -> its passes)
    with get_client(sync_client=True) as client:
        parents = {
            run.id: client.read_task_run(run.parent_task_run_id).flow_run_id
            for run in every
            if run.parent_task_run_id is not None
        }
    while True:
        found = {child for child, parent in parents.items() if parent in ours} - ours
        if not found:
            return [run for run in every if run.id in ours]
        ours |= found


@pytest.fixture
def wine(tmp_path: Path, ls: LabelStudio) -> Iterator[DatasetFile]:
    """A spec file of the user's own, written here, with its landing folder."""
    name = f"wine-{uuid4().hex[:6]}"
    folder = tmp_path / name
    (folder / "landing").mkdir(parents=True)
    document = yaml.safe_load(EXAMPLE.read_text()) | {"name": name}
    (folder / "spec.yaml").write_text(yaml.safe_dump(document))
    yield read_dataset_file(folder / "spec.yaml")
    unwire_dataset(name, ls)
    project = find_project(ls, name)
    if project is not None:
        ls.projects.delete(id=project.id)


def test_an_own_data_set_and_a_shipped_one_travel_the_shipped_deployments_together(
    stack: Stack, prefect_server: str, ls: LabelStudio, tmp_path: Path, wine: DatasetFile
) -> None:
    store = DataStore(base_path=str(stack.settings.data_dir))  # what the served flows use
    wipe_texts(ls, store)
    for key in store.list_keys(f"raw/{TEXTS.name}") + store.list_keys(f"state/collect/{TEXTS.name}"):
        store.delete(key)
    texts_landing = tmp_path / "texts-landing"
    texts_landing.mkdir()
    webhook = control.webhook_target(stack.settings)
    registered = {
        wine.spec.name: wire_dataset(wine, ls, webhook),
        TEXTS.name: wire_dataset(
            DatasetFile(spec=TEXTS, landing=[LocalSource(path=str(texts_landing))]), ls, webhook
        ),
    }
    try:
        frame, wine_truth = _wine_truth()
        landing = Path(wine.landing[0].path).parent
        frame.drop(columns=["target"]).rename(columns=lambda c: c.replace("/", "_")).to_csv(
            landing / "wines.csv", index=False
        )
        texts = [
            {"text": f"note {i} is {WORDS[label].split()[i % 3]} and {WORDS[label].split()[(i + 1) % 3]}", "lang": "en"}
            for i, label in enumerate(list(WORDS)[i % 3] for i in range(90))
        ]
        (texts_landing / "notes.jsonl").write_text("\n".join(json.dumps(t) for t in texts))

        with ServedDeployments(
            PROJECT_ROOT / "prefect.yaml", STAGES, tmp_path, stack.prefect_env(), changes=_changes()
        ) as served:
            started = datetime.now(UTC)
            run_deployment(f"collect-data/{served.name('collect')}", timeout=0)  # no data set named
            why = diagnosis(stack, started)
            projects: dict[str, tuple[int, set[int]]] = {}
            team = ensure_team(ls, 2, prefix="own")
            for name, registration in registered.items():
                assert registration.project_id is not None
                tasks = _wait_for_tasks(ls, registration.project_id, BATCH, 600, why)
                config = require_project(find_project(ls, name), name).config
                clean = pd.concat(store.read_parquet(k) for k in store.list_keys(f"clean/{name}/"))
                by_item = clean.set_index("item_id")
                every = {}
                for task in tasks:
                    if name == TEXTS.name:
                        text = str(task.data["text"])
                        every[task.id] = next(label for label, words in WORDS.items() if any(w in text for w in words.split()))
                    else:
                        row = by_item.loc[task.item_id]
                        every[task.id] = wine_truth[tuple(round(float(row[c]), 3) for c in KEY)]
                truth = balanced(every, LABELLED)
                annotate(ls, config, truth, team, TeamConfig(accuracy=1.0, skip_rate=0.0))
                projects[name] = (registration.project_id, set(truth))

            shown = _wait_for_champions(ls, store, projects, served, timeout_s=600)
            assert set(shown) == set(projects), (
                f"champions shown only for {sorted(shown)}\n{diagnosis(stack, started)}\n{served.log_tail()}"
            )
            runs = _runs_since(served, started)
            failed = [f"{r.name} {r.parameters.get('params', {}).get('dataset')}: {r.state_name}" for r in runs if r.state_type and r.state_type.value in {"FAILED", "CRASHED"}]
            assert failed == [], f"failed runs: {failed}\n{diagnosis(stack, started)}"
            # every sync pass synced the data set of the session that made it
            with get_client(sync_client=True) as client:
                for run in runs:
                    if run.parent_task_run_id is None or "dataset" not in run.parameters.get("params", {}):
                        continue
                    parent = client.read_flow_run(client.read_task_run(run.parent_task_run_id).flow_run_id)
                    session_dataset = parent.parameters.get("params", {}).get("dataset")
                    if session_dataset is not None:
                        assert run.parameters["params"]["dataset"] == session_dataset, (
                            f"{parent.name} ({session_dataset}) ran {run.name} for {run.parameters['params']['dataset']}"
                        )
    finally:
        unwire_dataset(TEXTS.name, ls)


def test_an_event_naming_no_registered_data_set_ends_in_one_clear_failure(
    stack: Stack, prefect_server: str, tmp_path: Path
) -> None:
    name = f"nosuch-{uuid4().hex[:6]}"
    with ServedDeployments(
        PROJECT_ROOT / "prefect.yaml", ("cleanse", "push"), tmp_path, stack.prefect_env()
    ) as served:
        ids = deployment_ids(served.served_names)
        emit_event(event=BATCH_COLLECTED, resource=dataset_resource(name), payload={"batch_id": "b1", "rows": 3})
        deadline = time.monotonic() + 300
        runs: list[Any] = []
        while time.monotonic() < deadline:
            runs = _deployment_runs(ids[served.name("cleanse")])
            if runs and all(r.state_type and r.state_type.value in FINAL for r in runs):
                break
            time.sleep(2)
        assert [r.state_name for r in runs] == ["Failed"], (runs, served.log_tail())
        assert f"data set {name!r} is not registered" in served.log_tail(20_000)
        time.sleep(10)  # what a cascade would have started by now
        assert _deployment_runs(ids[served.name("push")]) == []


FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _deployment_runs(deployment_id: Any) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )
