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

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from annotation.labels import ItemLabel, UnresolvedItem
from annotation.ledger import PushLedger
from annotation.sync import SyncWatermark
from blocks import DataStore
from monitoring.live import DegradedLog
from monitoring.review import ReviewLedger

STORE_RETRIES = {"retries": 2, "retry_delay_seconds": [1, 5]}
LABEL_COLUMNS = [
    "item_id",
    "task_id",
    "label",
    "status",
    "reason",
    "agreement",
    "annotators",
    "annotation_ids",
    "votes",
    "first_annotated_at",
    "last_annotated_at",
    "model_version",
]


class SyncState(SyncWatermark):
    """The sync watermark plus the labels version the last `labels.ready` announced."""

    announced_version: str | None = None


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


@task(name="read-latest-unresolved", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_latest_unresolved(store: DataStore, project: str) -> list[UnresolvedItem]:
    """The unresolved items of the newest labels version ([] before the first)."""
    return unresolved_items(_latest_frame(store, project)[1])


def _latest_frame(store: DataStore, project: str) -> tuple[LabelsVersion | None, pd.DataFrame]:
    if not store.exists(latest_labels_key(project)):
        return None, pd.DataFrame(columns=LABEL_COLUMNS)
    pointer = LabelsVersion.model_validate(store.read_json(latest_labels_key(project)))
    return pointer, store.read_parquet(pointer.key)


def resolved_labels(frame: pd.DataFrame) -> list[ItemLabel]:
    """The resolved rows of a labels version as `ItemLabel`s."""
    resolved = frame[frame["status"] == "resolved"].drop(columns=["status", "reason"])
    return [ItemLabel.from_record(record) for record in resolved.to_dict("records")]


def unresolved_items(frame: pd.DataFrame) -> list[UnresolvedItem]:
    """The unresolved rows of a labels version."""
    rows = frame[frame["status"] == "unresolved"]
    return [
        UnresolvedItem(
            item_id=row["item_id"],
            task_id=int(row["task_id"]),
            reason=row["reason"],
            votes={
                label: int(count)
                for label, _, count in (str(v).rpartition(":") for v in row["votes"])
            },
            agreement=float(row["agreement"]),
            annotators=tuple(int(a) for a in row["annotators"]),
        )
        for row in rows.to_dict("records")
    ]


def labels_frame(labels: list[ItemLabel], unresolved: list[UnresolvedItem]) -> pd.DataFrame:
    """One row per item: resolved labels, then unresolved items with a null label."""
    rows = [{**label.to_record(), "status": "resolved", "reason": None} for label in labels]
    rows += [
        {
            "item_id": item.item_id,
            "task_id": item.task_id,
            "label": None,
            "status": "unresolved",
            "reason": item.reason.value,
            "agreement": item.agreement,
            "annotators": list(item.annotators),
            "annotation_ids": [],
            "votes": [f"{label}:{count}" for label, count in sorted(item.votes.items())],
            "first_annotated_at": None,
            "last_annotated_at": None,
            "model_version": None,
        }
        for item in unresolved
    ]
    return pd.DataFrame(rows, columns=LABEL_COLUMNS)


@task(name="write-labels-version", cache_policy=NO_CACHE, **STORE_RETRIES)
def write_labels_version(
    store: DataStore,
    project: str,
    labels: list[ItemLabel],
    unresolved: list[UnresolvedItem],
    now: dt.datetime,
) -> LabelsVersion:
    """Write a new labels version, then point `latest.json` at it.

    The parquet is complete before the pointer moves, so a reader never sees half a
    version; a crash between the two leaves an unreferenced file and the old pointer.
    """
    version = new_version_id(now)
    key = f"labels/{project}/{version}.parquet"
    store.write_parquet(key, labels_frame(labels, unresolved))
    pointer = LabelsVersion(
        version=version, key=key, labels=len(labels), unresolved=len(unresolved)
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


@task(name="read-trained-labels", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_trained_labels(store: DataStore, model: str) -> dict[str, str]:
    """item_id -> label of the labels version the last training run used ({} if none)."""
    if not store.exists(trained_key(model)):
        return {}
    key = store.read_json(trained_key(model))["labels_key"]
    return {label.item_id: label.label for label in resolved_labels(store.read_parquet(key))}


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
