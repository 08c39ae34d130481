"""Push a batch of the items the model is least sure about to Label Studio.

    python flows/annotate.py --dataset digits --batch-size 20

Idempotent: the push ledger marks the whole selection pending before the first import
call and each chunk imported after its call. A run that finds pending items resumes
that push first (looking them up in Label Studio by `item_id`, importing only the
missing ones) and selects nothing new, so a crash after any chunk and a rerun leave
exactly the selected tasks; the pool excludes every item in the ledger, so two
selections never overlap.

With ``second_opinion_share`` above 0 and a champion, part of the batch may be second
opinions: labelled items that ActiveLab (`learning.second_opinions`) ranks above the new
items on one scale go back to Label Studio for one more annotator by the review path
(`tasks.review`), and the new items fill the rest. At 0 (the default) the push is as it
always was.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import numpy as np
import pandas as pd
from label_studio_sdk import LabelStudio
from numpy.typing import NDArray
from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
)
from prefect.utilities.annotations import quote
from pydantic import BaseModel, Field

from annotation.config import LabelSetDifference, build_label_config
from annotation.ledger import items_to_verify, plan_push
from annotation.payloads import ItemValue, build_tasks, chunked
from annotation.predictions import inline_predictions
from annotation.labels import votes_of_lists
from annotation.push import already_handled
from annotation.versions import RESOLVED
from blocks import DataStore, LabelStudioCredentials
from flows.cli import DATASET, run_flow_script
from learning.pipelines import selection_features
from learning.second_opinions import activelab_scores, second_opinions
from monitoring.decisions import DisputedLabel
from learning.selection import DEFAULT_STRATEGY, Strategy, select_batch
from specs import NAME_PATTERN, DatasetName, DatasetSpec, Reason
from tasks.datasets import resolve_dataset
from tasks.concurrency import dataset_slot
from tasks.data import feature_rows, load_clean_rows
from tasks.events import TASKS_PUSHED, announce, project_resource
from tasks.label_studio import (
    ensure_project,
    find_tasks_by_item_id,
    import_tasks,
)
from tasks.media import ensure_image_storage, image_reference
from tasks.predict import predict_items, probabilities
from tasks.consensus import read_champion_probabilities
from tasks.registry import LoadedModel, load_champion
from tasks.review import send_for_review
from tasks.state import (
    load_ledger,
    read_latest_labels,
    read_latest_version,
    read_review_ledger,
    save_ledger,
)

Selector = Callable[..., list[str]]
"""`learning.selection.select_batch`'s signature; pass another to plug in a strategy."""


class PushParams(BaseModel):
    """Parameters of the push flow (the form in the Prefect UI)."""

    dataset: DatasetName | DatasetSpec = Field(
        default="digits",
        description="A data set name (registered, or shipped: digits, texts, iris) or a whole spec; never an "
        "import path.",
    )
    batch_size: int = Field(default=20, ge=1, le=100_000, description="Items to push.")
    strategy: Strategy = Field(default=DEFAULT_STRATEGY, description="Selection strategy.")
    seed: int = Field(default=0, description="Seed of every random choice of the selection.")
    chunk_size: int = Field(
        default=10_000,
        ge=1,
        le=50_000,
        description="Tasks per import call (the unit a crash can redo).",
    )
    store_block: str | None = Field(
        default=None,
        description=(
            "DataStore block name; None = the local folder $LABELLOOP_HOME/data "
            "(default .labelloop/data)."
        ),
    )
    label_studio_block: str = Field(
        default="local", description="LabelStudioCredentials block name."
    )
    with_predictions: bool = Field(
        default=True,
        description="Rank by, and attach, the champion's predictions (when there is one).",
    )
    model_name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Registry model; None = the data set's name.",
    )
    second_opinion_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Largest share of the batch that may be second opinions on labelled "
        "items, ranked against new items by ActiveLab (needs a champion; 0 = new items only).",
    )
    reason: Reason = Field(
        default=None,
        description="Why this push runs (set by triggers).",
    )


class PushResult(BaseModel):
    """What a push did."""

    project_id: int
    selected: int
    resumed: bool
    imported: int
    recovered: int
    already_in_label_studio: int
    predictions: int
    model_version: str | None
    labels_put_back: list[str] = Field(
        default_factory=list, description="Spec labels the project lacked, put back by this push."
    )
    labels_outside_spec: list[str] = Field(
        default_factory=list, description="Project labels the spec lacks (never counted)."
    )
    second_opinions: int = Field(
        default=0, description="Labelled items sent back for one more annotator."
    )


@flow(name="push-batch")
def push_batch(
    params: PushParams,
    store: DataStore | None = None,
    credentials: LabelStudioCredentials | None = None,
    selector: Selector | None = None,
) -> PushResult:
    """Select a batch, import it as tasks (with the model's predictions) idempotently.

    Args:
        params: the flow's parameters.
        store: a DataStore (default: the block named in params).
        credentials: Label Studio credentials (default: the block named in params).
        selector: the selection function; `learning.selection.select_batch` by default.

    Returns:
        The counts of what was selected, imported, recovered and predicted.
    """
    spec = resolve_dataset(params.dataset)
    store = store or DataStore.named(params.store_block)
    credentials = credentials or LabelStudioCredentials.load(params.label_studio_block)
    client = credentials.get_client()
    # One push of a data set at a time: a push reads, extends and saves the data set's
    # ledger, and creates its project when there is none.
    with dataset_slot("push", spec.name):
        return _push(spec, params, store, client, selector or select_batch, credentials)


def _push(
    spec: DatasetSpec,
    params: PushParams,
    store: DataStore,
    client: LabelStudio,
    selector: Selector,
    credentials: LabelStudioCredentials | None = None,
) -> PushResult:
    """The push itself: resume an interrupted one or select, import, record, announce."""
    logger = get_run_logger()
    project = ensure_project(client, spec.project, build_label_config(spec.labels))
    if spec.features.modality == "image":
        ensure_image_storage(client, project.id, store, spec.name)

    ledger = load_ledger(store, spec.name, project.id)
    rows, _ = load_clean_rows(store, spec.name)
    champion = (
        load_champion(store, params.model_name or spec.name, store.trusted_types)
        if params.with_predictions
        else None
    )
    _, labelled = read_latest_labels(store, spec.name)
    push_id = uuid.uuid4().hex
    second: list[DisputedLabel] = []
    resumed = ledger.pending()
    if resumed:
        # An earlier push stopped between marking its selection and recording it:
        # finish that push first (what reached Label Studio is looked up), select nothing new.
        selected = resumed
        logger.info("Resuming an interrupted push of %d items of %s", len(selected), spec.name)
        found = find_tasks_by_item_id(client, project.id, items_to_verify(selected, ledger))
        plan = plan_push(selected, ledger, found)
    else:
        pool = rows[
            ~rows["item_id"].isin(already_handled(ledger, (label.item_id for label in labelled)))
        ]
        if params.second_opinion_share > 0 and champion is not None and labelled:
            second = _second_opinions(store, spec, champion, pool, params)
        batch = min(params.batch_size - len(second), len(pool))
        choosing = 0 < batch < len(pool)  # a batch that takes the whole pool needs no ranking
        inputs = feature_rows(store, spec, pool) if choosing else None
        proba = (
            probabilities(champion.model, inputs)[1] if champion is not None and choosing else None
        )
        selected = _select(
            spec, pool["item_id"].tolist(), inputs, proba, batch, params, selector
        )
        logger.info("Selected %d of %d selectable items of %s", len(selected), len(pool), spec.name)
        # Nothing selected is in the ledger, so nothing needs a lookup; the whole
        # selection is marked before the first import call.
        plan = plan_push(selected, ledger, {})
        ledger = ledger.with_pending(plan.to_import, push_id, _now())
        save_ledger(store, spec.name, quote(ledger))

    if plan.recovered:
        ledger = ledger.with_imported(plan.recovered, push_id, _now())
        save_ledger(store, spec.name, quote(ledger))
    values = _item_values(spec, rows[rows["item_id"].isin(plan.to_import)], store)
    guesses = (
        {
            guess.item_id: guess
            for guess in predict_items(
                champion.model,
                spec,
                quote(rows[rows["item_id"].isin(plan.to_import)]),
                store,
            )
        }
        if champion is not None
        else {}
    )
    version = champion.card.version if champion is not None else ""
    imported: dict[str, int] = {}
    for chunk in chunked(list(plan.to_import), params.chunk_size):
        tasks = build_tasks((values[i] for i in chunk), project.config)
        if guesses:  # inline: as fast as a plain import, no second call
            tasks = inline_predictions(tasks, guesses, version, project.config)
        task_ids = import_tasks(client, project.id, quote(tasks))  # no traversal of 10k dicts
        chunk_ids = dict(zip(chunk, task_ids, strict=True))
        ledger = ledger.with_imported(chunk_ids, push_id, _now())
        save_ledger(store, spec.name, quote(ledger))
        imported |= chunk_ids
    # Tasks recovered from an interrupted push were imported with their predictions inline.
    predicted = len(imported) if guesses else 0
    sent = 0
    if second and champion is not None:
        pointer, frame = read_latest_version(store, spec.name)
        requests, _ = send_for_review(
            store,
            credentials or LabelStudioCredentials.load(params.label_studio_block),
            spec,
            frame,
            second,
            labels_version=pointer.version if pointer else "",
            model_version=champion.card.version,
            reason="second_opinion",
        )
        sent = len(requests)

    result = PushResult(
        project_id=project.id,
        selected=len(selected),
        imported=len(imported),
        resumed=bool(resumed),
        recovered=len(plan.recovered),
        already_in_label_studio=len(plan.already_imported) - len(plan.recovered),
        predictions=predicted,
        model_version=champion.card.version if champion is not None else None,
        labels_put_back=list(project.update.added) if project.update else [],
        labels_outside_spec=list(project.update.retained) if project.update else [],
        second_opinions=sent,
    )
    _report(
        spec,
        result,
        pushed=len(ledger.entries),
        labelled=sum(1 for label in labelled if label.item_id in ledger.entries),
    )
    if result.labels_put_back or result.labels_outside_spec:
        difference = LabelSetDifference(
            missing=tuple(result.labels_put_back), extra=tuple(result.labels_outside_spec)
        )
        create_markdown_artifact(
            key=f"label-set-{spec.name}",
            markdown="\n".join(
                [f"# Label set of {spec.name}", "", "The data set's spec owns the label set.", ""]
                + [f"- {line}" for line in difference.describe(spec.name)]
            ),
            description=f"Label Studio project {spec.name!r}: its label set differed from the spec",
        )
    announce(
        TASKS_PUSHED,
        project_resource(spec.name),
        {
            "dataset": spec.name,
            "tasks": result.imported,
            "model_version": result.model_version,
            "project_id": project.id,
        },
    )
    return result


def _second_opinions(
    store: DataStore,
    spec: DatasetSpec,
    champion: LoadedModel,
    pool: pd.DataFrame,
    params: PushParams,
) -> list[DisputedLabel]:
    """The labelled items ActiveLab ranks above new ones, up to the share of the batch.

    Items ever sent back for review are not asked about again.
    """
    _, frame = read_latest_version(store, spec.name)
    asked = read_review_ledger(store, spec.name).requested()
    resolved = frame[(frame["status"] == RESOLVED) & ~frame["item_id"].astype(str).isin(asked)]
    votes = {
        str(item): given
        for item, annotators, labels in zip(
            resolved["item_id"], resolved["vote_annotators"], resolved["vote_labels"], strict=True
        )
        if (given := votes_of_lists(annotators, labels))
    }
    if not votes:
        return []
    classes = list(spec.labels.labels)
    known = read_champion_probabilities(store, spec, champion, list(votes))
    if pool.empty:
        new = pd.DataFrame(columns=classes)
    else:
        columns, proba = probabilities(champion.model, feature_rows(store, spec, pool))
        new = pd.DataFrame(proba, index=pool["item_id"].astype(str).tolist(), columns=columns)
    labelled_scores, new_scores = activelab_scores(votes, classes, known, new)
    chosen = second_opinions(
        labelled_scores, new_scores, params.batch_size, params.second_opinion_share
    )
    label_of = dict(
        zip(resolved["item_id"].astype(str), resolved["label"].astype(str), strict=True)
    )
    rows = known.set_axis([str(i) for i in known.index]).reindex(columns=classes, fill_value=0.0)
    get_run_logger().info(
        "Second opinions: %d of %d labelled items rank above the new ones (share %.2f of %d)",
        len(chosen),
        len(labelled_scores),
        params.second_opinion_share,
        params.batch_size,
    )
    return [
        DisputedLabel(
            item_id=item,
            label=label_of[item],
            model_label=str(rows.loc[item].idxmax()),
            model_probability=float(rows.loc[item].max()),
            label_probability=float(rows.loc[item].get(label_of[item], 0.0)),
        )
        for item in chosen
    ]


def _select(
    spec: DatasetSpec,
    item_ids: list[str],
    inputs: object,
    proba: NDArray[np.floating] | None,
    batch: int,
    params: PushParams,
    selector: Selector,
) -> list[str]:
    """The selection; everything, in pool order, when the batch takes the whole pool."""
    if batch == 0:
        return []
    if batch == len(item_ids):
        return list(item_ids)
    features = selection_features(spec.features, inputs, seed=params.seed)  # type: ignore[arg-type]
    return selector(params.strategy, item_ids, features, proba, batch, frozenset(), params.seed)


def _item_values(spec: DatasetSpec, rows: pd.DataFrame, store: DataStore) -> dict[str, ItemValue]:
    """What each task shows: an image reference, a text, or the row's columns."""
    if spec.features.modality == "image":
        shown: list[object] = [image_reference(store, str(key)) for key in rows[spec.value_column]]
    elif spec.features.modality == "text":
        shown = rows[spec.value_column].astype(str).tolist()
    else:
        columns = spec.features.numeric_columns + spec.features.categorical_columns
        shown = rows[columns].to_dict("records")
    return {
        str(item_id): ItemValue(item_id=str(item_id), value=value)
        for item_id, value in zip(rows["item_id"], shown, strict=True)
    }


def _report(spec: DatasetSpec, result: PushResult, pushed: int, labelled: int) -> None:
    create_table_artifact(
        key=f"push-{spec.name}",
        table=[{"metric": name, "value": value} for name, value in result.model_dump().items()],
        description=f"Push into Label Studio project {spec.name!r}",
    )
    create_progress_artifact(
        progress=100.0 * labelled / pushed if pushed else 0.0,
        key=f"labelled-{spec.name}",
        description=f"{labelled} of {pushed} pushed items of {spec.name} are labelled",
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


SHORTCUTS = [DATASET]

if __name__ == "__main__":
    run_flow_script(push_batch, PushParams, __doc__, SHORTCUTS)
