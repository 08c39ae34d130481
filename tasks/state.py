"""The small documents that make reruns idempotent, and the labels versions, in the DataStore.

Layout (DESIGN.md): `state/push/<project>.json` (push ledger),
`state/sync/<project>.json` (sync watermark and the last labels.ready),
`state/train/<model>.json` (the labels version the last training run used),
`state/review/<project>.json` (disputed items sent back to Label Studio),
`state/monitor/<model>.json` (the champions a degraded event was sent for),
`labels/<project>/<version>.parquet` and `labels/<project>/latest.json`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import PurePosixPath

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from annotation.labels import ItemLabel
from annotation.ledger import PushLedger
from annotation.sync import SyncWatermark
from annotation.versions import (
    LABEL_COLUMNS,
    count_unresolved,
    empty_labels_frame,
    label_pairs,
    resolved_labels,
)
from blocks import DataStore
from monitoring.live import DegradedLog
from monitoring.review import ReviewLedger

STORE_RETRIES = {"retries": 2, "retry_delay_seconds": [1, 5]}


class SyncState(SyncWatermark):
    """The sync watermark plus the labels version the last `labels.ready` announced, and when."""

    announced_version: str | None = None
    announced_at: dt.datetime | None = None


class LabelsVersion(BaseModel):
    """The pointer document `labels/<project>/latest.json`."""

    version: str
    key: str
    labels: int
    unresolved: int = 0


def ledger_key(project: str) -> str:
    return f"state/push/{project}.json"


def sync_key(project: str) -> str:
    return f"state/sync/{project}.json"


def trained_key(model: str) -> str:
    return f"state/train/{model}.json"


def review_key(project: str) -> str:
    return f"state/review/{project}.json"


def degraded_key(model: str) -> str:
    return f"state/monitor/{model}.json"


def latest_labels_key(project: str) -> str:
    return f"labels/{project}/latest.json"


def new_version_id(now: dt.datetime) -> str:
    """A version id that sorts by time: `20261122T065900123456Z-1a2b3c`."""
    return f"{now.astimezone(dt.UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:6]}"


@task(name="load-push-ledger", cache_policy=NO_CACHE, **STORE_RETRIES)
def load_ledger(store: DataStore, project: str, project_id: int) -> PushLedger:
    """The project's push ledger (empty on the first push).

    Raises:
        ValueError: the ledger belongs to another Label Studio project id.
    """
    if not store.exists(ledger_key(project)):
        return PushLedger(project_id=project_id)
    ledger = PushLedger.model_validate(store.read_json(ledger_key(project)))
    if ledger.project_id != project_id:
        raise ValueError(
            f"{ledger_key(project)} records Label Studio project {ledger.project_id}, but "
            f"the project titled {project!r} is {project_id}; move the ledger aside if the "
            "project was recreated"
        )
    return ledger


@task(name="save-push-ledger", cache_policy=NO_CACHE, **STORE_RETRIES)
def save_ledger(store: DataStore, project: str, ledger: PushLedger) -> None:
    """Replace the ledger atomically."""
    store.replace_json(ledger_key(project), ledger.model_dump(mode="json"))


@task(name="load-sync-state", cache_policy=NO_CACHE, **STORE_RETRIES)
def load_sync_state(store: DataStore, project: str) -> SyncState:
    """The sync watermark (empty before the first sync)."""
    if not store.exists(sync_key(project)):
        return SyncState()
    return SyncState.model_validate(store.read_json(sync_key(project)))


@task(name="save-sync-state", cache_policy=NO_CACHE, **STORE_RETRIES)
def save_sync_state(store: DataStore, project: str, state: SyncState) -> None:
    """Replace the sync state atomically (only after the labels are written)."""
    store.replace_json(sync_key(project), state.model_dump(mode="json"))


@task(name="read-latest-labels", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_latest_labels(
    store: DataStore, project: str
) -> tuple[LabelsVersion | None, list[ItemLabel]]:
    """The newest labels version and its resolved labels (None, [] before the first)."""
    pointer, frame = _latest_frame(store, project)
    return pointer, resolved_labels(frame)


@task(name="read-latest-labels-version", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_latest_version(
    store: DataStore, project: str
) -> tuple[LabelsVersion | None, pd.DataFrame]:
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
    return pointer, frame


def _latest_frame(store: DataStore, project: str) -> tuple[LabelsVersion | None, pd.DataFrame]:
    if not store.exists(latest_labels_key(project)):
        return None, empty_labels_frame()
    pointer = LabelsVersion.model_validate(store.read_json(latest_labels_key(project)))
    return pointer, store.read_parquet(pointer.key)


@task(name="write-labels-version", cache_policy=NO_CACHE, **STORE_RETRIES)
def write_labels_version(
    store: DataStore, project: str, frame: pd.DataFrame, now: dt.datetime
) -> LabelsVersion:
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
    key = f"labels/{project}/{version}.parquet"
    store.write_parquet(key, frame[LABEL_COLUMNS])
    unresolved = count_unresolved(frame)
    pointer = LabelsVersion(
        version=version, key=key, labels=len(frame) - unresolved, unresolved=unresolved
    )
    store.replace_json(latest_labels_key(project), pointer.model_dump(mode="json"))
    return pointer


@task(name="record-trained-labels", cache_policy=NO_CACHE, **STORE_RETRIES)
def record_trained_labels(store: DataStore, model: str, labels_key: str) -> None:
    """Remember the labels version a training run used, promoted or not.

    The sync counts labels gained since then, so a model the gate rejected waits for
    as many new labels again before the next retrain.
    """
    store.replace_json(trained_key(model), {"labels_key": labels_key})


@task(name="read-trained-version", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_trained_version(store: DataStore, model: str) -> str | None:
    """The labels version the last training run used (None if none); versions sort by time."""
    if not store.exists(trained_key(model)):
        return None
    return PurePosixPath(store.read_json(trained_key(model))["labels_key"]).stem


@task(name="read-trained-labels", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_trained_labels(store: DataStore, model: str) -> dict[str, str]:
    """item_id -> label of the labels version the last training run used ({} if none)."""
    if not store.exists(trained_key(model)):
        return {}
    key = store.read_json(trained_key(model))["labels_key"]
    return label_pairs(store.read_parquet(key, columns=["item_id", "label", "status"]))


@task(name="read-review-ledger", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_review_ledger(store: DataStore, project: str) -> ReviewLedger:
    """The project's review ledger (empty when nothing was ever sent back for review)."""
    if not store.exists(review_key(project)):
        return ReviewLedger(project=project)
    return ReviewLedger.model_validate(store.read_json(review_key(project)))


@task(name="save-review-ledger", cache_policy=NO_CACHE, **STORE_RETRIES)
def save_review_ledger(store: DataStore, ledger: ReviewLedger) -> None:
    """Replace the review ledger atomically (after Label Studio has the requests)."""
    store.replace_json(review_key(ledger.project), ledger.model_dump(mode="json"))


@task(name="read-degraded-log", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_degraded_log(store: DataStore, model: str) -> DegradedLog:
    """The champion versions a degraded event was sent for (empty before the first)."""
    if not store.exists(degraded_key(model)):
        return DegradedLog(model=model)
    return DegradedLog.model_validate(store.read_json(degraded_key(model)))


@task(name="save-degraded-log", cache_policy=NO_CACHE, **STORE_RETRIES)
def save_degraded_log(store: DataStore, log: DegradedLog) -> None:
    """Replace the degraded log atomically (after the event was sent)."""
    store.replace_json(degraded_key(log.model), log.model_dump(mode="json"))
