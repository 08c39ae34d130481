"""Cleanse flow: normalise, validate (quarantine), dedup and count every new raw batch, then
check each clean batch for drift against the champion's reference profile.

python flows/cleanse.py --dataset iris --schema cleansing.schemas:IrisMeasurements
python flows/cleanse.py --dataset digits --drift-psi 0.25 --drift-alpha 0.01
python flows/cleanse.py --dataset digits --no-drift
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, Field

from blocks import DataStore
from blocks.data_store import MissingKeyError
from cleansing.errors import BatchesFailedError, CleansingError
from cleansing.normalise import NormaliseOptions
from cleansing.partition import cross_partition_duplicates
from cleansing.pipeline import BatchReport
from cleansing.schemas import load_schema
from flows.cli import Shortcut, run_flow_script
from specs import NAME_PATTERN
from storage.layout import cleanse_manifest_key, raw_batch_of_key, raw_prefix
from tasks.datasets import resolve_dataset
from tasks.cleanse import (
    PartitionSummary,
    announce_batch,
    cleanse_batch,
    load_clean_ids,
    move_run_duplicates,
)
from tasks.concurrency import dataset_slot
from tasks.monitoring import BatchDrift, DriftMonitoring


def batch_failure(batch_id: str, exc: Exception) -> str:
    """The error recorded for a batch that failed as a whole.

    Args:
        batch_id: the raw batch.
        exc: what cleansing it raised.

    Returns:
        The library's own message (it names the batch), or the batch, the exception's
        type and message for anything unforeseen.
    """
    if isinstance(exc, CleansingError):
        return str(exc)
    return f"{batch_id}: unexpected {type(exc).__name__}: {exc}"


class CleanseParams(BaseModel):
    """Parameters of the cleanse flow (the form in the Prefect UI)."""

    dataset: str = Field(
        pattern=NAME_PATTERN, description="Data set name: raw/<dataset>/ in the store."
    )
    schema_path: str | None = Field(
        default=None,
        min_length=3,
        description="pandera schema (DataFrameModel import path or YAML); None = the data set's own.",
    )
    normalise: NormaliseOptions = Field(
        default_factory=NormaliseOptions, description="Normalisation steps."
    )
    chunk_rows: int = Field(
        default=100_000, ge=1, le=10_000_000, description="Rows cleansed at a time."
    )
    store_block: str | None = Field(
        default=None,
        description=(
            "DataStore block name; None = the local folder $LABELLOOP_HOME/data "
            "(default .labelloop/data)."
        ),
    )
    max_parallel_batches: int = Field(
        default=2,
        ge=1,
        le=256,
        description="Batches cleansed at the same time (memory grows with it; raise it on a cluster).",
    )
    drift: DriftMonitoring = Field(
        default_factory=DriftMonitoring, description="Drift monitoring of the clean batches."
    )


class CleanseResult(BaseModel):
    """What a cleanse run did."""

    dataset: str
    batches: list[BatchReport] = Field(default_factory=list)
    total: BatchReport
    message: str
    drift: list[BatchDrift] = Field(
        default_factory=list, description="One drift check per clean batch (monitoring on)."
    )


@flow(name="cleanse-data", task_runner=ThreadPoolTaskRunner(max_workers=2))
def cleanse(params: CleanseParams, store: DataStore | None = None) -> CleanseResult:
    """Cleanse every raw batch not cleansed yet; one task per batch. Then, with drift
    monitoring on, compare each clean batch with the champion's reference profile in the
    task announcing it: report at ``monitoring/drift/<dataset>/<batch>.json`` and in the
    batch's markdown artifact ``cleanse-<dataset>-<batch>``, event
    ``labelloop.data.drifted`` when it drifted. No champion, no profile or unreadable
    images are said in the report; the cleanse stands.

    Args:
        params: data set, schema, options and drift monitoring.
        store: a DataStore to use instead of ``params.store_block``.

    Returns:
        A :class:`CleanseResult`; each batch satisfies raw = clean + quarantined + duplicates.

    Raises:
        BatchesFailedError: after the other batches are cleansed and recorded, naming each
            batch that failed as a whole (e.g. a missing required column) and why.
    """
    target = store or DataStore.named(params.store_block)
    schema_path = params.schema_path or resolve_dataset(params.dataset).schema_ref
    load_schema(schema_path)  # fail before any work if the path is wrong
    # One cleanse of a data set at a time: a run cleanses every raw batch not cleansed
    # yet, so the runs a collect's several batches trigger wait and find their batches done.
    with dataset_slot("cleanse", params.dataset):
        return _cleanse_new_batches(params, target, schema_path)


def _cleanse_new_batches(
    params: CleanseParams, target: DataStore, schema_path: str
) -> CleanseResult:
    """The cleanse of every raw batch that the data set's manifest does not list yet."""
    logger = get_run_logger()
    try:
        done: dict[str, dict[str, object]] = dict(
            target.read_json(cleanse_manifest_key(params.dataset))
        )
    except MissingKeyError:
        done = {}
    raw_batches = [
        batch
        for key in target.list_keys(raw_prefix(params.dataset))
        if (batch := raw_batch_of_key(params.dataset, key)) is not None
    ]
    pending = [b for b in raw_batches if b not in done]
    total = BatchReport(source=params.dataset)
    if not pending:
        message = f"{params.dataset}: 0 new batches"
        logger.info("%s", message)
        return CleanseResult(dataset=params.dataset, total=total, message=message)
    known = load_clean_ids(target, params.dataset, sorted(done))
    summaries: list[PartitionSummary] = []
    failed: dict[str, str] = {}
    window = params.max_parallel_batches
    for start in range(0, len(pending), window):  # bounded memory: a few partitions at a time
        batch_ids = pending[start : start + window]
        futures = [
            cleanse_batch.submit(
                target,
                params.dataset,
                batch_id,
                schema_path,
                params.normalise,
                known,
                params.chunk_rows,
            )
            for batch_id in batch_ids
        ]
        for batch_id, future in zip(batch_ids, futures, strict=True):
            try:
                summaries.append(future.result())
            except Exception as exc:  # recorded, reported, and raised after the others
                failed[batch_id] = batch_failure(batch_id, exc)
                logger.error(
                    "batch %s failed: %s",
                    batch_id,
                    failed[batch_id],
                    exc_info=not isinstance(exc, CleansingError),
                )
    masks = cross_partition_duplicates([s.ids() for s in summaries])
    fixed = [
        move_run_duplicates.submit(target, params.dataset, s, m) if m.any() else None
        for s, m in zip(summaries, masks, strict=True)
    ]
    summaries = [f.result() if f is not None else s for f, s in zip(fixed, summaries, strict=True)]
    for summary in summaries:
        summary.report.check()
    # Each clean batch is final: its drift check runs in its announcement.
    announced = [announce_batch.submit(target, params.dataset, s, params.drift) for s in summaries]
    drift: list[BatchDrift] = []
    for summary, future in zip(summaries, announced, strict=True):
        checked = future.result()
        if checked is not None:
            drift.append(checked)
        done[summary.batch_id] = summary.report.model_dump(mode="json")
        total = total.merge(summary.report)
    if summaries:
        target.replace_json(cleanse_manifest_key(params.dataset), done)
    if failed:
        raise BatchesFailedError(params.dataset, failed)
    total.check()
    message = (
        f"{params.dataset}: {len(summaries)} batch(es), {total.rows_in} rows: {total.clean} clean, "
        f"{total.quarantined} quarantined, {total.duplicates} duplicates"
    )
    logger.info("%s", message)
    return CleanseResult(
        dataset=params.dataset,
        batches=[s.report for s in summaries],
        total=total,
        message=message,
        drift=drift,
    )


SHORTCUTS = [
    Shortcut("--schema", "schema_path", "same as --schema-path"),
    Shortcut("--no-trim", "normalise.trim_whitespace", "keep surrounding whitespace", value=False),
    Shortcut("--no-coerce", "normalise.coerce_types", "do not coerce column types", value=False),
    Shortcut("--no-drift", "drift.enabled", "skip the drift checks", value=False),
    Shortcut("--drift-psi", "drift.thresholds.psi", "same as --drift-thresholds-psi"),
    Shortcut("--drift-alpha", "drift.thresholds.alpha", "same as --drift-thresholds-alpha"),
]


if __name__ == "__main__":
    run_flow_script(cleanse, CleanseParams, __doc__, SHORTCUTS)
