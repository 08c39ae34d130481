"""Live accuracy on the real stack: a degraded champion starts the retrain deployment, and
disputed labels and a training's top label issues go back to the real Label Studio for
another annotator.

The champion is trained on 300 correctly labelled digits; a bot then labels new digits
in Label Studio, half of them wrongly (each digit called the next one).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pandas as pd
import pytest
from label_studio_sdk import LabelStudio
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

from annotation.config import build_label_config
from annotation.review import DISPUTE_META_KEY, REVIEW_VIEW_TITLE
from blocks import DataStore
from demo.bot import ensure_team, vote
from stack.prefect_yaml import read_deployments
from stack.serving import runner_deployment
from flows.monitor import MonitorParams, monitor_model
from flows.sync import SyncParams, sync_labels
from flows.train import TrainParams, retrain_model
from learning.evaluation import EvaluationConfig
from monitoring.review import ReviewLedger
from specs import DIGITS, DatasetSpec
from storage.layout import card_key, review_ledger_key
from tasks.state import LABEL_COLUMNS
from tests.conftest import Stack
from tests.flows.digits_store import label_records, write_digits

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TRAINED = 300
NEW = 60


def _flipped(truth: str) -> str:
    return str((int(truth) + 1) % 10)


def _digits_store(root: Path, spec: DatasetSpec) -> tuple[DataStore, pd.DataFrame]:
    """A local store with the digits under `spec.name` and a champion trained on 300 of them."""
    store = DataStore(base_path=str(root))
    clean = write_digits(store)
    store.write_parquet(
        f"clean/{spec.name}/b1.parquet", store.read_parquet("clean/digits/b1.parquet")
    )
    store.delete("clean/digits/b1.parquet")
    rows = clean.iloc[:TRAINED]
    key = f"labels/{spec.name}/v1.parquet"
    records = label_records(rows["item_id"].tolist(), rows["truth"].tolist(), 100_000)
    store.write_parquet(key, pd.DataFrame(records, columns=LABEL_COLUMNS))  # as the sync writes
    store.replace_json(
        f"labels/{spec.name}/latest.json", {"version": "v1", "key": key, "labels": TRAINED}
    )
    trained = retrain_model(TrainParams(dataset=spec), store=store)
    assert trained.status == "promoted"
    return store, clean


@pytest.fixture
def retrain_deployment(prefect_server: str, unique: str) -> Iterator[UUID]:
    """prefect.yaml's retrain deployment (both triggers) applied under a unique name."""
    (spec,) = [s for s in read_deployments(ROOT / "prefect.yaml") if s.name == "retrain"]
    deployment_id = runner_deployment(
        spec.model_copy(update={"name": f"retrain-{unique}"}), ROOT
    ).apply()
    try:
        yield deployment_id
    finally:
        with get_client(sync_client=True) as client:
            client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
            for run in client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            ):
                client.delete_flow_run(run.id)
            client.delete_deployment(deployment_id)


def _runs_with_model(deployment_id: UUID, model: str, deadline_s: float = 60) -> list[Any]:
    stop = time.monotonic() + deadline_s
    while True:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
        ours = [r for r in runs if r.parameters["params"].get("model_name") == model]
        if ours or time.monotonic() > stop:
            return ours
        time.sleep(1)


def test_a_degraded_champion_starts_the_retrain_deployment(
    retrain_deployment: UUID, unique: str, tmp_path: Path
) -> None:
    """The monitor flow's event creates a retrain run whose reason says why; that run's
    parameters retrain at once on the latest labels, with no new-label threshold."""
    store = DataStore(base_path=str(tmp_path / "store"))
    clean = write_digits(store)
    rows = clean.iloc[:TRAINED]
    key = "labels/digits/v1.parquet"
    store.write_parquet(
        key, pd.DataFrame(label_records(rows["item_id"].tolist(), rows["truth"].tolist()))
    )
    store.replace_json(
        "labels/digits/latest.json", {"version": "v1", "key": key, "labels": TRAINED}
    )
    champion = retrain_model(TrainParams(model_name=unique), store=store)
    assert champion.status == "promoted"

    rows = clean.iloc[: TRAINED + 200]
    labels = [
        _flipped(t) if n >= TRAINED and n % 2 == 0 else t for n, t in enumerate(rows["truth"])
    ]
    key = "labels/digits/v2.parquet"
    store.write_parquet(key, pd.DataFrame(label_records(rows["item_id"].tolist(), labels)))
    store.replace_json(
        "labels/digits/latest.json", {"version": "v2", "key": key, "labels": len(rows)}
    )

    time.sleep(2)  # the trigger service loads the new automation a moment after it is created
    result = monitor_model(MonitorParams(model_name=unique, margin=0.15), store=store)
    assert result.degraded and result.announced

    (run,) = _runs_with_model(retrain_deployment, unique)
    params = run.parameters["params"]
    assert (params["dataset"], params["model_name"]) == ("digits", unique)
    assert params["reason"].startswith(f"model {champion.version} degraded: live accuracy ")
    assert f"live accuracy {result.live.accuracy:.3f}" in params["reason"]
    assert f"holdout {result.holdout_accuracy:.3f}" in params["reason"]
    assert "labels_version" not in params  # the latest labels, whatever they are by then

    retrained = retrain_model(TrainParams.model_validate(params), store=store)
    assert retrained.labels_version == "v2" and retrained.status != "skipped"
    card = store.read_json(card_key(unique, str(retrained.version)))
    assert card["reason"] == params["reason"]


def _next_task(stack: Stack, project_id: int) -> int | None:
    """The task Label Studio's label stream gives the admin next (None: nothing to label)."""
    token = stack.credentials.label_studio_token.get_secret_value()
    response = httpx.get(
        f"{stack.settings.label_studio_url}/api/projects/{project_id}/next",
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return int(response.json()["id"])


def _view_tasks(ls: LabelStudio, project_id: int) -> set[int]:
    (view,) = [
        v for v in ls.views.list(project=project_id) if v.data.get("title") == REVIEW_VIEW_TITLE
    ]
    return {int(t.id) for t in ls.tasks.list(project=project_id, view=view.id, include="id")}


def test_disputed_labels_go_back_to_label_studio_for_another_annotator(
    stack: Stack, prefect_server: str, ls: LabelStudio, unique: str, tmp_path: Path
) -> None:
    spec = DIGITS.model_copy(update={"name": unique})
    store, clean = _digits_store(tmp_path / "store", spec)
    config = build_label_config(spec.labels)
    project = ls.projects.create(title=unique, label_config=config.xml)
    try:
        new = clean.iloc[TRAINED : TRAINED + NEW]
        pngs = [store.read_bytes(k) for k in new["key"]]
        imported = ls.projects.import_tasks(
            id=project.id,
            request=[
                {"item_id": i, "image": "data:image/png;base64," + base64.b64encode(png).decode()}
                for i, png in zip(new["item_id"], pngs, strict=True)
            ],
            return_task_ids=True,
        )
        task_of = dict(zip(new["item_id"], map(int, imported.task_ids), strict=True))
        first, second = ensure_team(ls, 2, prefix=f"{unique}-bot")
        wrong = set(new["item_id"].iloc[::2])
        for item, truth in zip(new["item_id"], new["truth"], strict=True):
            vote(ls, config, task_of[item], first, _flipped(truth) if item in wrong else truth)
        credentials = stack.label_studio()
        # labels as voted: CROWDLAB would leave the wrong single votes unresolved instead
        sync = SyncParams(dataset=spec, ready_threshold=1000, method="majority")
        sync_labels(sync, store=store, credentials=credentials)
        assert _next_task(stack, project.id) is None  # everything is labelled once

        params = MonitorParams(dataset=spec, margin=0.15, request_review=True)
        result = monitor_model(params, store=store, credentials=credentials)
        assert result.degraded and result.disputed == result.review_requested >= 5
        disputes = store.read_parquet(f"labels/{unique}/disputed/{result.labels_version}.parquet")
        disputed_tasks = {task_of[i] for i in disputes["item_id"]}
        assert set(disputes["item_id"]) <= wrong

        # In Label Studio: one more annotator wanted, the reason in meta, a tab listing them.
        for task_id in disputed_tasks:
            task = ls.tasks.get(id=str(task_id))
            assert (task.overlap, task.is_labeled) == (2, False)
            note = task.meta[DISPUTE_META_KEY]
            assert note["labels_version"] == result.labels_version
            assert note["model_version"] == result.model_version
        untouched = ls.tasks.get(id=str(task_of[new["item_id"].iloc[1]]))
        assert (untouched.overlap, untouched.is_labeled) == (1, True)
        assert _view_tasks(ls, project.id) == disputed_tasks
        assert _next_task(stack, project.id) in disputed_tasks  # back in the label stream

        # Training leaves them out until someone has looked.
        held = retrain_model(TrainParams(dataset=spec), store=store)
        assert held.held_for_review == len(disputed_tasks)

        # A second annotator looks at one: it leaves the tab, the rest still wait.
        looked = disputes["item_id"].iloc[0]
        truth = dict(zip(new["item_id"], new["truth"], strict=True))[looked]
        vote(ls, config, task_of[looked], second, truth)
        sync_labels(sync, store=store, credentials=credentials)
        again = monitor_model(params, store=store, credentials=credentials)
        assert again.review_requested == 0  # nothing is sent back twice
        assert again.waiting_for_review == len(disputed_tasks) - 1
        assert _view_tasks(ls, project.id) == disputed_tasks - {task_of[looked]}
        assert ls.tasks.get(id=str(task_of[looked])).overlap == 2  # not raised again
    finally:
        ls.projects.delete(id=project.id)


LABELLED = 200
SENT_BACK = 8


def test_top_label_issues_of_a_training_go_back_to_label_studio_for_review(
    stack: Stack, prefect_server: str, ls: LabelStudio, unique: str, tmp_path: Path
) -> None:
    """A bot labels 200 digits in Label Studio, one in ten wrongly (each digit called the
    next one); the training run's top label issues, trained-on items included, land in the
    review tab by the disputes' path, and the next training holds them."""
    spec = DIGITS.model_copy(update={"name": unique})
    store = DataStore(base_path=str(tmp_path / "store"))
    clean = write_digits(store, n=LABELLED, dataset=unique)
    config = build_label_config(spec.labels)
    project = ls.projects.create(title=unique, label_config=config.xml)
    try:
        pngs = [store.read_bytes(k) for k in clean["key"]]
        imported = ls.projects.import_tasks(
            id=project.id,
            request=[
                {"item_id": i, "image": "data:image/png;base64," + base64.b64encode(png).decode()}
                for i, png in zip(clean["item_id"], pngs, strict=True)
            ],
            return_task_ids=True,
        )
        task_of = dict(zip(clean["item_id"], map(int, imported.task_ids), strict=True))
        (bot,) = ensure_team(ls, 1, prefix=f"{unique}-bot")
        wrong = set(clean["item_id"].iloc[::10])
        for item, truth in zip(clean["item_id"], clean["truth"], strict=True):
            vote(ls, config, task_of[item], bot, _flipped(truth) if item in wrong else truth)
        credentials = stack.label_studio()
        sync = SyncParams(dataset=spec, ready_threshold=1000, method="majority")
        sync_labels(sync, store=store, credentials=credentials)
        assert _next_task(stack, project.id) is None  # everything is labelled once

        params = TrainParams(
            dataset=spec,
            evaluation=EvaluationConfig(holdout_min_items=1000),  # every label out of fold
            review_label_issues=True,
            label_issue_top=SENT_BACK,
        )
        trained = retrain_model(params, store=store, credentials=credentials)
        assert trained.status == "promoted" and trained.review_requested == SENT_BACK
        ledger = ReviewLedger.model_validate(store.read_json(review_ledger_key(unique)))
        sent = {r.item_id for r in ledger.requests}
        assert len(sent) == SENT_BACK and len(sent & wrong) >= SENT_BACK - 1  # precision >= 0.8
        sent_tasks = {task_of[i] for i in sent}

        # In Label Studio: one more annotator wanted, the reason in meta, the review tab.
        for task_id in sent_tasks:
            task = ls.tasks.get(id=str(task_id))
            assert (task.overlap, task.is_labeled) == (2, False)
            note = task.meta[DISPUTE_META_KEY]
            assert note["reason"] == "label_issue"
            assert (note["labels_version"], note["model_version"]) == (
                trained.labels_version,
                trained.version,
            )
        untouched = ls.tasks.get(id=str(next(t for i, t in task_of.items() if i not in sent)))
        assert (untouched.overlap, untouched.is_labeled) == (1, True)
        assert _view_tasks(ls, project.id) == sent_tasks
        assert _next_task(stack, project.id) in sent_tasks  # back in the label stream

        # The next training leaves them out until someone has looked.
        held = retrain_model(params.model_copy(update={"review_label_issues": False}), store=store)
        assert held.held_for_review == SENT_BACK and held.used == LABELLED - SENT_BACK
    finally:
        ls.projects.delete(id=project.id)
