"""Refresh flow: unlabelled Label Studio tasks get the champion's predictions.

python flows/preannotate.py --dataset digits --label-studio-block local
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, Field, model_validator

from annotation.payloads import chunked
from annotation.predictions import build_prediction
from annotation.refresh import plan_refresh
from blocks import DataStore, LabelStudioCredentials
from learning.registry import refuse_run_trust
from flows.cli import DATASET, run_flow_script
from learning.training import ITEM_ID
from specs import NAME_PATTERN, DatasetName, DatasetSpec
from tasks.datasets import DatasetRuns, resolve_dataset, run_for_each_registered
from tasks.concurrency import dataset_slot
from tasks.data import load_clean_rows
from tasks.label_studio import (
    delete_predictions,
    find_project,
    import_predictions,
    require_project,
)
from tasks.predict import predict_items
from tasks.refresh import list_unlabelled_tasks
from tasks.registry import load_champion


class RefreshParams(BaseModel):
    """Parameters of the refresh flow (the form in the Prefect UI)."""

    dataset: DatasetName | DatasetSpec | None = Field(
        default=None,
        description="A data set name (registered, or shipped: digits, texts, iris) or a whole "
        "spec, never an import path; None: every registered data set.",
    )
    model_name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Registry name; None = the data set's name.",
    )
    project_title: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Label Studio project title; None = the data set's name.",
    )
    store_block: str | None = Field(
        default=None,
        description=(
            "DataStore block name; None = the local folder $LABELLOOP_HOME/data "
            "(default .labelloop/data)."
        ),
    )
    label_studio_block: str = Field(
        default="local", min_length=1, description="LabelStudioCredentials block name."
    )
    chunk_size: int = Field(
        default=1000, ge=1, le=10_000, description="Tasks per delete + import call."
    )

    @model_validator(mode="before")
    @classmethod
    def _trust_is_not_a_run_parameter(cls, data: Any) -> Any:
        return refuse_run_trust(data)


class RefreshResult(BaseModel):
    """What a refresh run did."""

    status: Literal["refreshed", "no_champion"]
    message: str
    model_version: str | None = None
    project_id: int | None = None
    refreshed: int = 0
    up_to_date: int = 0
    not_in_clean_data: int = 0
    no_item_id: int = 0


@flow(name="refresh-predictions")
def refresh_predictions(
    params: RefreshParams,
    store: DataStore | None = None,
    label_studio: LabelStudioCredentials | None = None,
) -> RefreshResult | DatasetRuns:
    """Replace the predictions of unlabelled tasks with the champion's, in bulk.

    Every prediction is built and checked with ``LabelInterface`` before the first
    delete, so a bad prediction changes nothing. Then per chunk: one bulk delete of
    the chunk's old predictions, one import of the new ones. Tasks already showing
    the champion's version are left alone (a rerun finishes an interrupted refresh).

    Args:
        params: data set, model, project and blocks.
        store: a DataStore to use instead of ``params.store_block``.
        label_studio: credentials to use instead of ``params.label_studio_block``.

    Returns:
        A :class:`RefreshResult` with counts; with no `dataset`, every registered data
        set's refresh (each its own subflow run) and its final state.
    """
    if params.dataset is None:
        return run_for_each_registered(
            refresh_predictions, params, store=store, label_studio=label_studio
        )
    target = store or DataStore.named(params.store_block)
    credentials = label_studio or LabelStudioCredentials.load(params.label_studio_block)
    spec = resolve_dataset(params.dataset)
    # One refresh of a data set at a time: two would delete and import the same tasks'
    # predictions at once.
    with dataset_slot("refresh", spec.name):
        return _refresh(params, target, credentials, spec)


def _refresh(
    params: RefreshParams,
    target: DataStore,
    credentials: LabelStudioCredentials,
    spec: DatasetSpec,
) -> RefreshResult:
    """The refresh itself: plan, predict, replace the predictions chunk by chunk."""
    logger = get_run_logger()
    name = params.model_name or spec.name

    champion = load_champion(target, name, target.trusted_types)
    if champion is None:
        message = f"model {name} has no champion: nothing to refresh"
        logger.info("%s", message)
        return RefreshResult(status="no_champion", message=message)
    version = champion.card.version

    client = credentials.get_client()
    title = params.project_title or spec.project
    project = require_project(find_project(client, title, spec.labels.control_name), title)
    plan = plan_refresh(list_unlabelled_tasks(client, project.id), version)
    wanted = {item_id for _, item_id in plan.to_refresh}
    clean, _ = load_clean_rows(target, spec.name)
    rows = clean.loc[clean[ITEM_ID].astype(str).isin(wanted)].drop_duplicates(subset=[ITEM_ID])
    predictions = {p.item_id: p for p in predict_items(champion.model, spec, rows, target)}
    missing = sorted(wanted - set(predictions))
    if missing:
        logger.warning(
            "%d unlabelled tasks hold items not in the clean data (left as they are), e.g. %s",
            len(missing),
            missing[:5],
        )
    payloads = [
        build_prediction(task_id, predictions[item_id], version, project.config)
        for task_id, item_id in plan.to_refresh
        if item_id in predictions
    ]
    for chunk in chunked(payloads, params.chunk_size):
        delete_predictions(client, project.id, [p["task"] for p in chunk])
        import_predictions(client, project.id, chunk)

    result = RefreshResult(
        status="refreshed",
        message=(
            f"project {project.id} ({project.title}): {len(payloads)} tasks now show {name} {version}; "
            f"{len(plan.up_to_date)} already did"
        ),
        model_version=version,
        project_id=project.id,
        refreshed=len(payloads),
        up_to_date=len(plan.up_to_date),
        not_in_clean_data=sum(1 for _, item_id in plan.to_refresh if item_id not in predictions),
        no_item_id=len(plan.no_item_id),
    )
    logger.info("%s", result.message)
    create_table_artifact(
        key=f"{name}-refresh".lower(),
        table=[
            {"tasks": "refreshed", "count": result.refreshed},
            {"tasks": "already up to date", "count": result.up_to_date},
            {"tasks": "item not in clean data", "count": result.not_in_clean_data},
            {"tasks": "no item_id", "count": result.no_item_id},
        ],
        description=f"predictions of {name} {version} in project {project.id}",
    )
    return result


SHORTCUTS = [DATASET]

if __name__ == "__main__":
    run_flow_script(refresh_predictions, RefreshParams, __doc__, SHORTCUTS)
