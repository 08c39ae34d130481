"""One raw partition (a parquet file) cleansed chunk by chunk into parquet outputs.

Memory is bounded by ``chunk_rows`` plus 16 bytes per known id, whatever the file size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from cleansing.dedup import REASON_COLUMN, KnownIds, first_occurrence_duplicates
from cleansing.errors import CleansingError
from cleansing.hashing import ids_to_raw
from cleansing.normalise import NormaliseOptions
from cleansing.pipeline import ID_COLUMN, BatchReport, cleanse_chunks
from cleansing.readers import DEFAULT_CHUNK_ROWS, iter_table_chunks
from cleansing.schemas import SchemaType
from cleansing.validate import QUARANTINE_COLUMNS

CROSS_PARTITION = "duplicate_in_run"
OUTPUTS = ("clean", "quarantine", "duplicates")


@dataclass
class _Sink:
    path: Path
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    rows: int = 0

    def write(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.schema = table.schema
            self.writer = pq.ParquetWriter(self.path, table.schema)
        else:
            assert self.schema is not None
            try:
                table = table.select(self.schema.names).cast(self.schema)
            except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise CleansingError(
                    f"{self.path.name}: chunk does not match the first chunk's columns: {exc}"
                ) from exc
        self.writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def quarantine_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Quarantined rows with every data column as text (rows failed their dtypes).

    Args:
        frame: quarantined rows.

    Returns:
        Same rows; columns other than counters and provenance timestamps as str.
    """
    out = frame.copy()
    for column in out.columns:
        if column in QUARANTINE_COLUMNS or column in ("source_row", "_source_row", "_collected_at"):
            continue
        series = out[column]
        out[column] = series.astype("str").where(series.notna())
    return out


class PartitionResult(BaseModel):
    """Files written for one partition and what happened to its rows."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    report: BatchReport
    files: dict[str, Path]  # output name -> local parquet file (only non-empty outputs)
    clean_ids: np.ndarray  # S16 digests of the clean rows, in file order


@dataclass
class _Sinks:
    folder: Path
    sinks: dict[str, _Sink] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sinks = {name: _Sink(self.folder / f"{name}.parquet") for name in OUTPUTS}

    def close(self) -> dict[str, Path]:
        for sink in self.sinks.values():
            sink.close()
        return {name: sink.path for name, sink in self.sinks.items() if sink.rows}


def cleanse_partition(
    handle: IO[bytes],
    schema: SchemaType,
    *,
    source: str,
    out_folder: Path,
    options: NormaliseOptions | None = None,
    known: KnownIds | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> PartitionResult:
    """Cleanse a raw parquet partition chunk by chunk; write clean/quarantine/duplicates.

    ``known`` is copied, not modified: partitions can run in parallel against the same
    known ids; duplicates across partitions of one run are resolved afterwards with
    :func:`cross_partition_duplicates`.

    Args:
        handle: the raw parquet file.
        schema: the data set's DataFrameSchema.
        source: the batch id or key, named in errors and the report.
        out_folder: folder for ``clean.parquet``, ``quarantine.parquet``, ``duplicates.parquet``.
        options: normalisation options.
        known: ids already clean before this run.
        chunk_rows: rows per chunk.

    Returns:
        A :class:`PartitionResult`; its report satisfies the counting rule.
    """
    sinks = _Sinks(out_folder)
    local_known = KnownIds()
    if known is not None:
        local_known.merge_from(known)
    report = BatchReport(source=source)
    clean_ids: list[np.ndarray] = []
    try:
        # A raw batch is collect's own file: its columns were bounded when it was collected.
        chunks = iter_table_chunks(
            handle, "parquet", name=source, chunk_rows=chunk_rows, max_columns=None
        )
        for result in cleanse_chunks(
            chunks, schema, source=source, options=options, known=local_known
        ):
            sinks.sinks["clean"].write(result.clean)
            sinks.sinks["quarantine"].write(quarantine_as_text(result.quarantined))
            sinks.sinks["duplicates"].write(result.duplicates)
            clean_ids.append(ids_to_raw(result.clean[ID_COLUMN]))
            report = report.merge(result.report)
    finally:
        files = sinks.close()
    report.check()
    ids = np.concatenate(clean_ids) if clean_ids else np.empty(0, dtype="S16")
    return PartitionResult(report=report, files=files, clean_ids=ids)


def cross_partition_duplicates(ids_per_partition: list[np.ndarray]) -> list[np.ndarray]:
    """Rows that repeat an id of an earlier partition of the same run.

    Each partition is unique in itself and against ids known before the run; this marks,
    in partition order, ids already claimed by an earlier partition.

    Args:
        ids_per_partition: S16 clean ids of each partition, in run order.

    Returns:
        One boolean mask per partition (True = duplicate of an earlier partition).
    """
    if not ids_per_partition:
        return []
    sizes = [len(ids) for ids in ids_per_partition]
    everything = np.concatenate(ids_per_partition) if sum(sizes) else np.empty(0, dtype="S16")
    repeated = first_occurrence_duplicates(everything)
    bounds = np.cumsum([0, *sizes])
    return [repeated[bounds[i] : bounds[i + 1]] for i in range(len(sizes))]


def move_duplicates(clean: pd.DataFrame, mask: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split clean rows marked by ``mask`` off as duplicates (reason ``duplicate_in_run``).

    Args:
        clean: a partition's clean rows (file order).
        mask: from :func:`cross_partition_duplicates`.

    Returns:
        ``(clean, duplicates)``.
    """
    duplicates = clean.loc[mask].copy()
    duplicates[REASON_COLUMN] = pd.Series(
        [CROSS_PARTITION] * len(duplicates), index=duplicates.index, dtype="str"
    )
    return clean.loc[~mask].reset_index(drop=True), duplicates.reset_index(drop=True)
