"""Cleanse tasks: one per raw partition (never per row)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field

from blocks import DataStore
from blocks.data_store import MissingKeyError
from cleansing.dedup import KnownIds
from cleansing.hashing import ids_to_raw
from cleansing.normalise import NormaliseOptions
from cleansing.partition import CROSS_PARTITION, cleanse_partition, move_duplicates
from cleansing.pipeline import ID_COLUMN, BatchReport
from cleansing.schemas import load_schema
from monitoring.profile import record_markdown
from storage.layout import clean_prefix, cleanse_output_key, raw_key
from tasks.events import BATCH_CLEANSED, announce, dataset_resource
from tasks.monitoring import BatchDrift, DriftMonitoring, announce_drift, check_batch_drift
from tasks.registry import STORE_RETRIES


class PartitionSummary(BaseModel):
    """A cleansed partition as the flow sees it (the ids stay compact: 16 bytes each)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    batch_id: str
    report: BatchReport
    outputs: dict[str, str] = Field(default_factory=dict, description="output kind -> store key")
    clean_ids: bytes = b""

    def ids(self) -> np.ndarray:
        """The clean ids as an S16 array.

        Returns:
            numpy array of dtype S16.
        """
        return np.frombuffer(self.clean_ids, dtype="S16")


@task(name="load-clean-ids", cache_policy=NO_CACHE)
def load_clean_ids(store: DataStore, dataset: str, batch_ids: list[str]) -> KnownIds:
    """Item ids of the clean outputs of completed batches.

    Args:
        store: the DataStore.
        dataset: data set name.
        batch_ids: batches whose clean output counts as "already clean".

    Returns:
        A :class:`KnownIds` set.
    """
    known = KnownIds()
    present = set(store.list_keys(clean_prefix(dataset)))
    for batch_id in batch_ids:
        key = cleanse_output_key("clean", dataset, batch_id)
        if key in present:
            known.add_raw(ids_to_raw(store.read_parquet(key, columns=[ID_COLUMN])[ID_COLUMN]))
    get_run_logger().info("%d clean id(s) already known for %s", len(known), dataset)
    return known


@task(name="cleanse-partition", cache_policy=NO_CACHE)
def cleanse_batch(
    store: DataStore,
    dataset: str,
    batch_id: str,
    schema_path: str,
    options: NormaliseOptions,
    known: KnownIds,
    chunk_rows: int,
) -> PartitionSummary:
    """Cleanse one raw batch chunk by chunk and write its outputs.

    Args:
        store: the DataStore.
        dataset: data set name.
        batch_id: the raw batch.
        schema_path: the schema (`cleansing.schemas.load_schema`: import path or YAML).
        options: normalisation options.
        known: ids clean before this run.
        chunk_rows: rows per chunk.

    Returns:
        The partition's summary (report, output keys, clean ids).

    Raises:
        MissingColumnError: a required column is absent (names the column and batch).
        CountingRuleError: the counting rule broke.
    """
    logger = get_run_logger()
    schema = load_schema(schema_path)
    source = raw_key(dataset, batch_id)
    with (
        tempfile.TemporaryDirectory(prefix="labelloop-cleanse-") as folder,
        store.open_read(source) as handle,
    ):
        result = cleanse_partition(
            handle,
            schema,
            source=source,
            out_folder=Path(folder),
            options=options,
            known=known,
            chunk_rows=chunk_rows,
        )
        outputs = {}
        for kind, path in result.files.items():
            key = cleanse_output_key(kind, dataset, batch_id)
            store.write_bytes(key, path.read_bytes())
            outputs[kind] = key
    for kind in ("clean", "quarantine", "duplicates"):
        if kind not in outputs:  # an earlier interrupted run may have left one behind
            store.delete(cleanse_output_key(kind, dataset, batch_id))
    logger.info(
        "%s: %d in, %d clean, %d quarantined, %d duplicates",
        batch_id,
        result.report.rows_in,
        result.report.clean,
        result.report.quarantined,
        result.report.duplicates,
    )
    return PartitionSummary(
        batch_id=batch_id,
        report=result.report,
        outputs=outputs,
        clean_ids=result.clean_ids.tobytes(),
    )


@task(name="move-run-duplicates", cache_policy=NO_CACHE)
def move_run_duplicates(
    store: DataStore, dataset: str, summary: PartitionSummary, mask: np.ndarray
) -> PartitionSummary:
    """Move clean rows that repeat an earlier partition of this run to the duplicates.

    Args:
        store: the DataStore.
        dataset: data set name.
        summary: the partition's summary.
        mask: True for rows (in clean file order) to move.

    Returns:
        The updated summary (counting rule re-checked).
    """
    clean_key = cleanse_output_key("clean", dataset, summary.batch_id)
    dup_key = cleanse_output_key("duplicates", dataset, summary.batch_id)
    clean, moved = move_duplicates(store.read_parquet(clean_key), mask)
    try:
        existing = store.read_parquet(dup_key)
        duplicates = pd.concat([existing, moved], ignore_index=True)
    except MissingKeyError:
        duplicates = moved
    buffer = io.BytesIO()
    duplicates.to_parquet(buffer, index=False)
    store.write_bytes(dup_key, buffer.getvalue())
    outputs = {**summary.outputs, "duplicates": dup_key}
    if clean.empty:
        store.delete(clean_key)
        outputs.pop("clean", None)
    else:
        store.write_parquet(clean_key, clean)
    report = summary.report.model_copy(
        update={
            "clean": summary.report.clean - len(moved),
            "duplicates": summary.report.duplicates + len(moved),
            "duplicates_by_reason": {
                **summary.report.duplicates_by_reason,
                CROSS_PARTITION: summary.report.duplicates_by_reason.get(CROSS_PARTITION, 0)
                + len(moved),
            },
        }
    )
    report.check()
    get_run_logger().info(
        "%s: %d row(s) repeat an earlier batch of this run", summary.batch_id, len(moved)
    )
    ids = summary.ids()[~mask]
    return summary.model_copy(
        update={"report": report, "outputs": outputs, "clean_ids": ids.tobytes()}
    )


def report_table(report: BatchReport) -> list[dict[str, object]]:
    """The rows of a batch's table artifact.

    Args:
        report: the batch report.

    Returns:
        ``[{"metric": ..., "value": ...}, ...]``.
    """
    rows: list[dict[str, object]] = [
        {"metric": "rows in", "value": report.rows_in},
        {"metric": "clean", "value": report.clean},
        {"metric": "quarantined", "value": report.quarantined},
        {"metric": "duplicates", "value": report.duplicates},
    ]
    rows += [
        {"metric": f"quarantined: {check}", "value": n}
        for check, n in sorted(report.quarantined_by_check.items())
    ]
    rows += [
        {"metric": f"duplicates: {reason}", "value": n}
        for reason, n in sorted(report.duplicates_by_reason.items())
    ]
    rows += [
        {"metric": f"missing: {column}", "value": n}
        for column, n in sorted(report.missing_by_column.items())
    ]
    rows += [
        {"metric": f"normalised: {step}", "value": n}
        for step, n in report.normalise.totals().items()
        if n
    ]
    return rows


def batch_markdown(dataset: str, batch_id: str, report: BatchReport, drift: str | None) -> str:
    """A batch's artifact: its counts, then its drift report when it was checked.

    Args:
        dataset: data set name.
        batch_id: the batch.
        report: the batch report.
        drift: the drift record as markdown (``monitoring.profile.record_markdown``), or None.

    Returns:
        Markdown text.
    """
    lines = [
        f"# Cleanse: {dataset} batch {batch_id}",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {row['metric']} | {row['value']} |" for row in report_table(report)),
    ]
    if drift is not None:
        lines += ["", drift]
    return "\n".join(lines) + "\n"


def batch_artifact_key(dataset: str, batch_id: str) -> str:
    """The key of a batch's artifact (lower-case letters, digits and dashes).

    Args:
        dataset: data set name.
        batch_id: the batch.

    Returns:
        ``cleanse-<dataset>-<batch>``.
    """
    return f"cleanse-{dataset}-{batch_id}".lower().replace("_", "-")


@task(name="announce-cleansed-batch", cache_policy=NO_CACHE, **STORE_RETRIES)
def announce_batch(
    store: DataStore, dataset: str, summary: PartitionSummary, drift: DriftMonitoring
) -> BatchDrift | None:
    """Check the batch for drift (when ``drift.enabled``), then publish its artifact (counts
    and drift report), ``labelloop.data.drifted`` when it drifted and
    ``labelloop.batch.cleansed``.

    Args:
        store: the DataStore (registry, clean batch, images, drift reports).
        dataset: data set name.
        summary: the final partition summary.
        drift: drift monitoring settings.

    Returns:
        The drift check (see :func:`tasks.monitoring.announce_drift`); None when off.
    """
    report = summary.report
    record = (
        check_batch_drift(
            store, dataset, summary.batch_id, summary.outputs.get("clean"), report.clean, drift
        )
        if drift.enabled
        else None
    )
    # The events last: a retry after a failed store or artifact call emits nothing twice.
    create_markdown_artifact(
        markdown=batch_markdown(
            dataset, summary.batch_id, report, record_markdown(record) if record else None
        ),
        key=batch_artifact_key(dataset, summary.batch_id),
        description=f"cleanse {dataset} batch {summary.batch_id}",
    )
    checked = announce_drift(record) if record else None
    announce(
        BATCH_CLEANSED,
        dataset_resource(dataset),
        {
            "batch_id": summary.batch_id,
            "rows": report.rows_in,
            "clean": report.clean,
            "quarantined": report.quarantined,
            "duplicates": report.duplicates,
        },
    )
    return checked
