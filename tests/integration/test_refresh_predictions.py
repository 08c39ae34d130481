"""Promotion refreshes the predictions of unlabelled tasks in the real Label Studio."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio
from prefect import flow

from annotation import ItemPrediction, ItemValue, build_label_config, build_predictions, build_tasks
from annotation.predictions import choice_result
from blocks import DataStore
from flows.preannotate import RefreshParams, refresh_predictions
from flows.train import TrainParams, retrain_model
from specs import load_spec
from tasks.label_studio import ensure_project, import_predictions, import_tasks
from tests.flows.digits_store import label_records, write_digits, write_labels

pytestmark = pytest.mark.integration
SPEC = load_spec("digits")
N_TASKS = 24
N_LABELLED = 8


@pytest.fixture
def title(ls: LabelStudio, unique: str) -> Iterator[str]:
    name = f"refresh-{unique}"
    yield name
    for project in ls.projects.list(title=name):
        if project.title == name:
            ls.projects.delete(id=project.id)


def _predictions_by_task(ls: LabelStudio, project_id: int) -> dict[int, list[str | None]]:
    tasks = ls.tasks.list(project=project_id, fields="all", include="id,predictions,model_version")
    return {
        int(t.id): [
            p.get("model_version") if isinstance(p, dict) else p.model_version
            for p in t.predictions or []
        ]
        for t in tasks
    }


def test_promotion_refreshes_unlabelled_tasks(
    prefect_server: str, stack, ls: LabelStudio, title: str, tmp_path: Path
) -> None:
    store = DataStore(base_path=str(tmp_path))
    clean = write_digits(store, n=400)
    config = build_label_config(SPEC.labels)
    pushed = clean.iloc[:N_TASKS]

    @flow
    def push_with_old_predictions() -> tuple[int, list[int]]:
        project = ensure_project(ls, title, config)
        items = [
            ItemValue(
                item_id=row.item_id,
                value="data:image/png;base64,"
                + base64.b64encode(store.read_bytes(row.key)).decode(),
            )
            for row in pushed.itertuples()
        ]
        task_ids = import_tasks(ls, project.id, build_tasks(items, config))
        old = [
            ItemPrediction(item_id=i, probabilities={"0": 0.5, "1": 0.5}) for i in pushed["item_id"]
        ]
        import_predictions(
            ls,
            project.id,
            build_predictions(
                dict(zip(pushed["item_id"], task_ids, strict=True)), old, "old", config
            ),
        )
        return project.id, task_ids

    project_id, task_ids = push_with_old_predictions()
    labelled = task_ids[:N_LABELLED]
    for task_id, truth in zip(labelled, pushed["truth"], strict=False):
        ls.annotations.create(id=task_id, result=choice_result(config, truth))

    # Labels for other items (as the sync flow would write them), then train and promote.
    trained = clean.iloc[100:400]
    write_labels(store, "v1", label_records(trained["item_id"].tolist(), trained["truth"].tolist()))
    result = retrain_model(TrainParams(), store=store)
    assert result.status == "promoted"

    refreshed = refresh_predictions(
        RefreshParams(dataset=SPEC.name, project_title=title), store=store, label_studio=stack.label_studio()
    )
    assert (refreshed.model_version, refreshed.refreshed, refreshed.up_to_date) == (
        result.version,
        N_TASKS - N_LABELLED,
        0,
    )
    versions = _predictions_by_task(ls, project_id)
    for task_id in task_ids[N_LABELLED:]:
        assert versions[task_id] == [result.version], task_id
    for task_id in labelled:
        assert versions[task_id] == ["old"], task_id

    # The new predictions are the champion's guess: mostly right on these digits.
    tasks = ls.tasks.list(project=project_id, fields="all", include="id,predictions,result")
    truth = dict(zip(task_ids, pushed["truth"], strict=True))
    right = 0
    for task in tasks:
        if int(task.id) in labelled:
            continue
        prediction = task.predictions[0]
        result_list = prediction["result"] if isinstance(prediction, dict) else prediction.result
        right += result_list[0]["value"]["choices"][0] == truth[int(task.id)]
    assert right >= 0.8 * (N_TASKS - N_LABELLED)

    again = refresh_predictions(
        RefreshParams(dataset=SPEC.name, project_title=title), store=store, label_studio=stack.label_studio()
    )
    assert (again.refreshed, again.up_to_date) == (0, N_TASKS - N_LABELLED)
    assert _predictions_by_task(ls, project_id) == versions
