"""The small documents that make reruns idempotent, and the labels versions, in the DataStore.

The push ledger, the sync state, the trained-labels record, the review ledger, the
degraded log, the labels versions and their pointer; keys from `storage.layout`.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from annotation.labels import ItemLabel
from annotation.ledger import PushLedger
from annotation.sync import SyncWatermark
from annotation.versions import (
    LABEL_COLUMNS,
    TREND_COLUMNS,
    count_unresolved,
    empty_labels_frame,
    label_pairs,
    resolved_labels,
    with_consensus_columns,
)
from blocks import DataStore
from blocks.data_store import MissingKeyError
from monitoring.live import DegradedLog
from monitoring.review import ReviewLedger
from storage.layout import (
    degraded_log_key,
    labels_key,
    labels_prefix,
    latest_labels_key,
    push_ledger_key,
    review_ledger_key,
    sync_state_key,
    trained_labels_key,
    version_of_labels_key,
)
from storage.pointers import LabelsPointer, TrainedLabels, parse_labels_document

STORE_RETRIES = {"retries": 2, "retry_delay_seconds": [1, 5]}


class SyncState(SyncWatermark):
    """The sync watermark plus the labels version the last `labels.ready` announced, and when."""

    announced_version: str | None = None
    announced_at: dt.datetime | None = None


def new_version_id(now: dt.datetime) -> str:
    """A version id that sorts by time: `20261122T065900123456Z-1a2b3c`."""
    return f"{now.astimezone(dt.UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:6]}"


@task(name="load-push-ledger", cache_policy=NO_CACHE, **STORE_RETRIES)
def load_ledger(store: DataStore, project: str, project_id: int) -> PushLedger:
    """The project's push ledger (empty on the first push).

    Raises:
        ValueError: the ledger belongs to another Label Studio project id.
    """
    if not store.exists(push_ledger_key(project)):
        return PushLedger(project_id=project_id)
    ledger = PushLedger.model_validate(store.read_json(push_ledger_key(project)))
    if ledger.project_id != project_id:
        raise ValueError(
            f"{push_ledger_key(project)} records Label Studio project {ledger.project_id}, but "
            f"the project titled {project!r} is {project_id}; move the ledger aside if the "
            "project was recreated"
        )
    return ledger


@task(name="save-push-ledger", cache_policy=NO_CACHE, **STORE_RETRIES)
def save_ledger(store: DataStore, project: str, ledger: PushLedger) -> None:
    """Replace the ledger atomically."""
    store.replace_json(push_ledger_key(project), ledger.model_dump(mode="json"))


@task(name="load-sync-state", cache_policy=NO_CACHE, **STORE_RETRIES)
def load_sync_state(store: DataStore, project: str) -> SyncState:
    """The sync watermark (empty before the first sync)."""
    if not store.exists(sync_state_key(project)):
        return SyncState()
    return SyncState.model_validate(store.read_json(sync_state_key(project)))


@task(name="save-sync-state", cache_policy=NO_CACHE, **STORE_RETRIES)
def save_sync_state(store: DataStore, project: str, state: SyncState) -> None:
    """Replace the sync state atomically (only after the labels are written)."""
    store.replace_json(sync_state_key(project), state.model_dump(mode="json"))


@task(name="read-latest-labels", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_latest_labels(
    store: DataStore, project: str
) -> tuple[LabelsPointer | None, list[ItemLabel]]:
    """The newest labels version and its resolved labels (None, [] before the first)."""
    pointer, frame = _latest_frame(store, project)
    return pointer, resolved_labels(frame)


@task(name="read-latest-labels-version", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_latest_version(
    store: DataStore, project: str
) -> tuple[LabelsPointer | None, pd.DataFrame]:
    """The newest labels version and its whole frame (None and an empty frame before the first).

    The frame holds resolved and unresolved rows (``annotation.versions.LABEL_COLUMNS``);
    a sync merges into it without turning every row into an object.

    Raises:
        ValueError: the version lacks a column of ``LABEL_COLUMNS`` (names the key).
    """
    pointer, frame = _latest_frame(store, project)
    missing = [column for column in LABEL_COLUMNS if column not in frame.columns]
    if pointer is not None and missing:
        raise ValueError(f"labels version {pointer.key} lacks the columns {missing}")
    return pointer, with_consensus_columns(frame)


def _latest_frame(store: DataStore, project: str) -> tuple[LabelsPointer | None, pd.DataFrame]:
    pointer = read_labels_pointer(store, project)
    if pointer is None:
        return None, empty_labels_frame()
    return pointer, store.read_parquet(pointer.key)


def read_labels_pointer(store: DataStore, project: str) -> LabelsPointer | None:
    """The project's labels pointer, ``latest.json`` (None before the first labels version).

    Raises:
        PointerError: the pointer is not JSON or not a pointer (names the key).
    """
    key = latest_labels_key(project)
    try:
        return parse_labels_document(LabelsPointer, store.read_bytes(key), key)
    except MissingKeyError:
        return None


@task(name="read-earlier-labels-versions", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_earlier_versions(
    store: DataStore, project: str, before: str | None, count: int
) -> list[tuple[str, pd.DataFrame]]:
    """The labels versions just before ``before``, oldest first (for trends over versions).

    Args:
        store: the DataStore.
        project: the project (data set) name.
        before: a labels version; only versions that sort before it (None: all).
        count: how many at most, the newest ones.

    Returns:
        (version, frame) pairs; a frame holds the columns of ``TREND_COLUMNS`` it has.
    """
    if count <= 0:
        return []
    versions = sorted(
        version
        for key in store.list_keys(labels_prefix(project))
        if (version := version_of_labels_key(project, key)) is not None
        and (before is None or version < before)
    )[-count:]
    frames = []
    for version in versions:
        frame = store.read_parquet(labels_key(project, version))
        frames.append((version, frame[[c for c in TREND_COLUMNS if c in frame.columns]]))
    return frames


@task(name="write-labels-version", cache_policy=NO_CACHE, **STORE_RETRIES)
def write_labels_version(
    store: DataStore, project: str, frame: pd.DataFrame, now: dt.datetime
) -> LabelsPointer:
    """Write a new labels version, then point `latest.json` at it.

    The parquet is complete before the pointer moves, so a reader never sees half a
    version; a crash between the two leaves an unreferenced file and the old pointer.

    Args:
        store: the DataStore.
        project: the project (data set) name.
        frame: the version's rows (``annotation.versions.labels_frame`` or a merge).
        now: the time the version id carries.

    Returns:
        The pointer now in `latest.json`.

    Raises:
        ValueError: the frame lacks a column of ``LABEL_COLUMNS``.
    """
    missing = [column for column in LABEL_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"labels version of {project!r}: the frame lacks columns {missing}")
    version = new_version_id(now)
    key = labels_key(project, version)
    store.write_parquet(key, with_consensus_columns(frame))
    unresolved = count_unresolved(frame)
    pointer = LabelsPointer(
        version=version, key=key, labels=len(frame) - unresolved, unresolved=unresolved
    )
    store.replace_json(latest_labels_key(project), pointer.model_dump(mode="json"))
    return pointer


@task(name="record-trained-labels", cache_policy=NO_CACHE, **STORE_RETRIES)
def record_trained_labels(store: DataStore, project: str, model: str, labels_key: str) -> None:
    """Remember the labels version a training run used, promoted or not.

    Kept per project (data set), whatever the model is named: the sync counts the
    project's labels gained since then, so a model the gate rejected waits for as many
    new labels again before the next retrain.

    Args:
        store: the DataStore.
        project: the project (data set) whose labels were used.
        model: the model trained on them.
        labels_key: the store key of the labels version.
    """
    record = TrainedLabels(labels_key=labels_key, model=model)
    store.replace_json(trained_labels_key(project), record.model_dump(mode="json"))


def read_trained(store: DataStore, project: str) -> TrainedLabels | None:
    """The labels the last training of the project's labels used (None: never trained).

    Raises:
        PointerError: the record is not JSON or not such a record (names the key).
    """
    key = trained_labels_key(project)
    try:
        return parse_labels_document(TrainedLabels, store.read_bytes(key), key)
    except MissingKeyError:
        return None


@task(name="read-trained-version", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_trained_version(store: DataStore, project: str, model: str | None = None) -> str | None:
    """The labels version the last training run used (None if none); versions sort by time.

    Args:
        store: the DataStore.
        project: the project (data set).
        model: only a training of this model counts (None: any model's). A record
            written before records named their model was written by the model named
            like the project.
    """
    record = read_trained(store, project)
    if record is None or (model is not None and (record.model or project) != model):
        return None
    return record.version


@task(name="read-trained-labels", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_trained_labels(store: DataStore, project: str) -> dict[str, str]:
    """item_id -> label of the labels version the last training run used ({} if none)."""
    record = read_trained(store, project)
    if record is None:
        return {}
    frame = store.read_parquet(record.labels_key, columns=["item_id", "label", "status"])
    return label_pairs(frame)


@task(name="read-review-ledger", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_review_ledger(store: DataStore, project: str) -> ReviewLedger:
    """The project's review ledger (empty when nothing was ever sent back for review)."""
    if not store.exists(review_ledger_key(project)):
        return ReviewLedger(project=project)
    return ReviewLedger.model_validate(store.read_json(review_ledger_key(project)))


@task(name="save-review-ledger", cache_policy=NO_CACHE, **STORE_RETRIES)
def save_review_ledger(store: DataStore, ledger: ReviewLedger) -> None:
    """Replace the review ledger atomically (after Label Studio has the requests)."""
    store.replace_json(review_ledger_key(ledger.project), ledger.model_dump(mode="json"))


@task(name="read-degraded-log", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_degraded_log(store: DataStore, model: str) -> DegradedLog:
    """The champion versions a degraded event was sent for (empty before the first)."""
    if not store.exists(degraded_log_key(model)):
        return DegradedLog(model=model)
    return DegradedLog.model_validate(store.read_json(degraded_log_key(model)))


@task(name="save-degraded-log", cache_policy=NO_CACHE, **STORE_RETRIES)
def save_degraded_log(store: DataStore, log: DegradedLog) -> None:
    """Replace the degraded log atomically (after the event was sent)."""
    store.replace_json(degraded_log_key(log.model), log.model_dump(mode="json"))
