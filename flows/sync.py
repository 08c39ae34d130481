"""Sync human labels from Label Studio into a new labels version.

    python flows/sync.py --dataset digits --ready-threshold 20

Incremental: only tasks changed since the watermark are read, filtered on the
server. Every item with recorded voters is then decided again from all votes of the
version and the champion's out-of-sample probabilities (``annotation.consensus``); a
table artifact ranks the annotators and `labelloop.annotator.flagged` names one clearly
below the team. The watermark advances only after the new labels version is written, so a
crash never loses a label; a rerun re-reads the same window and merges idempotently.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field

from annotation.config import counted_config, label_set_difference
from annotation.consensus import (
    AnnotatorQuality,
    Consensus,
    ConsensusError,
    flagged_annotators,
)
from annotation.labels import LabelPolicy, SkipReason, UnresolvedItem, resolve_labels
from annotation.ledger import task_items
from annotation.sync import (
    advance_watermark,
    count_labels_gained,
    diff_labels,
    merge_labels,
    withdraw_deleted_tasks,
)
from annotation.versions import (
    apply_consensus,
    count_unresolved,
    should_announce,
    unresolved_items,
)
from blocks import DataStore, LabelStudioCredentials
from flows.cli import DATASET, run_flow_script
from specs import DatasetName, DatasetSpec, Reason
from storage.layout import RegistryError
from tasks.consensus import read_champion_probabilities
from tasks.datasets import resolve_dataset
from tasks.events import (
    ANNOTATOR_FLAGGED,
    LABELS_READY,
    LABELS_UPDATED,
    announce,
    project_resource,
)
from tasks.label_studio import fetch_changed_tasks, find_project, list_task_ids
from tasks.registry import load_champion
from tasks.state import (
    load_ledger,
    load_sync_state,
    read_latest_version,
    read_trained_labels,
    read_trained_version,
    save_sync_state,
    write_labels_version,
)


class SyncParams(BaseModel):
    """Parameters of the label sync (the form in the Prefect UI)."""

    dataset: DatasetName | DatasetSpec = Field(
        default="digits",
        description="A data set name (registered, or shipped: digits, texts, iris) or a whole spec; never an "
        "import path.",
    )
    ready_threshold: int = Field(
        default=20,
        ge=1,
        description="Labels gained since the last training that announce labels.ready.",
    )
    method: Literal["crowdlab", "majority"] = Field(
        default="crowdlab",
        description="crowdlab: weigh each annotator and the champion's out-of-sample "
        "probabilities (majority when there is no champion); majority: every vote counts the same.",
    )
    min_agreement: float = Field(
        default=0.5, ge=0, le=1, description="Share of votes the majority needs (majority)."
    )
    min_quality: float = Field(
        default=0.5, ge=0, le=1, description="Consensus quality a label needs (crowdlab)."
    )
    min_annotators: int = Field(
        default=1, ge=1, description="People who must have voted on an item."
    )
    overlap_seconds: float = Field(
        default=30.0, ge=0, description="Re-read this far before the watermark."
    )
    reconcile_deleted: bool = Field(
        default=False,
        description="Also list every task id to withdraw labels of deleted tasks (slower).",
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
    reannounce_seconds: float | None = Field(
        default=600,
        ge=1,
        description=(
            "Announce labels.ready again if no training has used the announced labels after "
            "this long (its retrain run was lost); None = never again."
        ),
    )
    reason: Reason = Field(
        default=None,
        description="Why this sync runs (set by triggers).",
    )


class SyncResult(BaseModel):
    """What a sync did."""

    tasks_read: int
    labels: int
    added: int
    changed: int
    withdrawn: int
    unresolved: int
    skipped: int
    labels_version: str | None
    gained_since_training: int
    announced: bool
    flagged_annotators: list[str] = []


@flow(name="sync-labels")
def sync_labels(
    params: SyncParams,
    store: DataStore | None = None,
    credentials: LabelStudioCredentials | None = None,
) -> SyncResult:
    """Read changed tasks, resolve their labels, write a labels version, maybe announce.

    Args:
        params: the flow's parameters.
        store: a DataStore (default: the block named in params).
        credentials: Label Studio credentials (default: the block named in params).

    Returns:
        The counts of the sync.
    """
    logger = get_run_logger()
    spec = resolve_dataset(params.dataset)
    store = store or DataStore.named(params.store_block)
    client = (credentials or LabelStudioCredentials.load(params.label_studio_block)).get_client()
    # Read-only: a sync never creates a project or changes its labels (the push does).
    # The lookup runs in a worker thread while the store is read.
    lookup = find_project.submit(client, spec.project, spec.labels.control_name)
    state = load_sync_state(store, spec.name)
    previous_version, previous = read_latest_version(store, spec.name)
    project = lookup.result()
    if project is None:
        logger.warning("No Label Studio project is titled %r yet: nothing to sync", spec.project)
        return SyncResult(
            tasks_read=0,
            labels=0,
            added=0,
            changed=0,
            withdrawn=0,
            unresolved=0,
            skipped=0,
            labels_version=None,
            gained_since_training=0,
            announced=False,
        )

    tasks = fetch_changed_tasks(client, project.id, state.updated_at, params.overlap_seconds)
    # The ledger, not the task's editable data, says which item each pushed task is.
    pushed = task_items(load_ledger(store, spec.name, project.id))
    # The spec owns the label set: a choice outside it is an unknown label, not a label.
    outside = label_set_difference(project.config, spec.labels.labels)
    for line in outside.describe(spec.name):
        logger.warning("Label set: %s", line)
    policy = LabelPolicy(
        method=params.method,
        min_agreement=params.min_agreement,
        min_quality=params.min_quality,
        min_annotators=params.min_annotators,
    )
    counted = counted_config(project.config, spec.labels.labels)
    delta = resolve_labels(tasks, counted, policy, pushed)
    for detail in dict.fromkeys(
        s.detail
        for s in delta.skipped
        if s.reason in (SkipReason.ITEM_ID_CHANGED, SkipReason.ITEM_CLAIMED)
    ):
        logger.warning("Not a label: %s", detail)
    merged = merge_labels(previous, delta)
    withdrawn = list(merged.withdrawn)
    if params.reconcile_deleted:
        reconciled = withdraw_deleted_tasks(merged.frame, list_task_ids(client, project.id))
        merged = merged.model_copy(update={"frame": reconciled.frame})
        withdrawn += reconciled.withdrawn
    probabilities = _champion_probabilities(store, spec, merged.frame, policy)
    try:
        decided, consensus = apply_consensus(
            merged.frame, counted.labels, probabilities, policy, delta.skips_by_annotator
        )
    except ConsensusError as exc:
        logger.warning("No consensus, the majority decides: %s", exc)
        decided, consensus = merged.frame, None
    else:
        merged = diff_labels(previous, decided)
        withdrawn = list(merged.withdrawn)
    unresolved = count_unresolved(merged.frame)

    version = previous_version
    current_written = False
    if (
        merged.added
        or merged.changed
        or withdrawn
        or unresolved != (previous_version.unresolved if previous_version else 0)
    ):
        version = write_labels_version(store, spec.name, merged.frame, dt.datetime.now(dt.UTC))
        current_written = True
        logger.info("Wrote labels version %s: %d labels", version.version, version.labels)
        announce(
            LABELS_UPDATED,
            project_resource(spec.name),
            {
                "dataset": spec.name,
                "labels_version": version.version,
                "labels": version.labels,
                "added": len(merged.added),
                "changed": len(merged.changed),
                "withdrawn": len(withdrawn),
            },
        )
    flagged = flagged_annotators(consensus.annotators) if consensus else []
    if consensus is not None and version is not None and current_written:
        for quality, team in flagged:
            announce(
                ANNOTATOR_FLAGGED,
                project_resource(spec.name),
                {
                    "dataset": spec.name,
                    "labels_version": version.version,
                    "annotator": quality.annotator,
                    "accuracy": quality.accuracy,
                    "accuracy_high": quality.accuracy_high,
                    "team_accuracy": team,
                    "labels": quality.labels,
                },
            )
            logger.warning(
                "Annotator %s: accuracy %.3f (at most %.3f) against the team's %.3f",
                quality.annotator,
                quality.accuracy,
                quality.accuracy_high,
                team,
            )
    watermark = advance_watermark(state.updated_at, tasks)

    gained = count_labels_gained(merged.frame, read_trained_labels(store, spec.name))
    current = version.version if version else None
    now = dt.datetime.now(dt.UTC)
    repeat = None if params.reannounce_seconds is None else dt.timedelta(seconds=params.reannounce_seconds)
    ready = should_announce(
        gained,
        params.ready_threshold,
        current,
        state.announced_version,
        read_trained_version(store, spec.name),
        state.announced_at,
        now,
        repeat,
    )
    if ready and version is not None:
        announce(
            LABELS_READY,
            project_resource(spec.name),
            {
                "dataset": spec.name,
                "labels": version.labels,
                "gained": gained,
                "threshold": params.ready_threshold,
                "labels_version": version.version,
            },
        )
        logger.info("Announced %s: %d labels gained since the last training", LABELS_READY, gained)
    save_sync_state(
        store,
        spec.name,
        state.model_copy(
            update={
                "updated_at": watermark,
                "labels_version": current,
                "announced_version": current if ready else state.announced_version,
                "announced_at": now if ready else state.announced_at,
            }
        ),
    )
    result = SyncResult(
        tasks_read=len(tasks),
        labels=merged.labelled,
        added=len(merged.added),
        changed=len(merged.changed),
        withdrawn=len(withdrawn),
        unresolved=unresolved,
        skipped=len(delta.skipped),
        labels_version=current,
        gained_since_training=gained,
        announced=ready,
        flagged_annotators=[quality.annotator for quality, _ in flagged],
    )
    _report(spec.name, result, delta.counts(), merged.frame, delta.skipped)
    if consensus is not None:
        _report_annotators(spec.name, current, consensus, flagged)
    return result


def _champion_probabilities(
    store: DataStore, spec: DatasetSpec, frame: pd.DataFrame, policy: LabelPolicy
) -> pd.DataFrame | None:
    """The champion's out-of-sample probabilities of the voted items (None: no champion,
    the majority policy, or a champion that cannot be loaded: the majority decides)."""
    if policy.method != "crowdlab" or frame.empty:
        return None
    try:
        champion = load_champion(store, spec.name, store.trusted_types)
    except RegistryError as exc:
        get_run_logger().warning("Champion not usable for the consensus: %s", exc)
        return None
    if champion is None:
        return None
    return read_champion_probabilities(store, spec, champion, frame["item_id"].astype(str).tolist())


def _report_annotators(
    name: str,
    version: str | None,
    consensus: Consensus,
    flagged: list[tuple[AnnotatorQuality, float]],
) -> None:
    below = {quality.annotator for quality, _ in flagged}

    def share(value: float | None) -> str:
        return "" if value is None else f"{value:.3f}"

    create_table_artifact(
        key=f"annotators-{name}",
        table=[
            {
                "annotator": q.annotator,
                "accuracy": share(q.accuracy),
                "interval_95": f"{share(q.accuracy_low)}-{share(q.accuracy_high)}"
                if q.accuracy is not None
                else "",
                "agreement_with_consensus": share(q.agreement),
                "labels": q.labels,
                "skips": q.skips,
                "crowdlab_quality": share(q.crowdlab_quality),
                "flagged": "below the team" if q.annotator in below else "",
            }
            for q in consensus.annotators
        ],
        description=f"Annotators of {name!r}, best estimated accuracy first (labels version "
        f"{version}; champion weight {share(consensus.model_weight) or 'none: majority'})",
    )


def _report(
    name: str, result: SyncResult, counts: dict[str, int], frame: pd.DataFrame, skipped: tuple
) -> None:  # type: ignore[type-arg]
    create_table_artifact(
        key=f"sync-{name}",
        table=[{"metric": k, "value": v} for k, v in {**result.model_dump(), **counts}.items()],
        description=f"Label sync of {name!r}",
    )
    unresolved: list[UnresolvedItem] = unresolved_items(frame) if result.unresolved else []
    if unresolved or skipped:
        lines = [
            f"# Labels of {name} that need a look",
            "",
            "| item | task | why | votes |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {item.item_id} | {item.task_id} | {item.reason.value} | {item.votes} |"
            for item in unresolved[:200]
        ]
        lines += [
            f"| {s.item_id} | {s.task_id} | {s.reason.value} | {s.detail} |" for s in skipped[:200]
        ]
        create_markdown_artifact(key=f"review-{name}", markdown="\n".join(lines))


SHORTCUTS = [DATASET]

if __name__ == "__main__":
    run_flow_script(sync_labels, SyncParams, __doc__, SHORTCUTS)
