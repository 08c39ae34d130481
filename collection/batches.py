"""Raw batches: source rows plus provenance, written as parquet parts of bounded size."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cleansing.dedup import REASON_COLUMN
from cleansing.errors import SourceReadError
from cleansing.hashing import content_hash
from cleansing.pipeline import ID_COLUMN
from cleansing.pipeline import SOURCE_ROW_COLUMN as CLEANSE_SOURCE_ROW_COLUMN
from cleansing.validate import QUARANTINE_COLUMNS

SOURCE_COLUMN = "_source"
COLLECTED_AT_COLUMN = "_collected_at"
SOURCE_ROW_COLUMN = "_source_row"
ROW_HASH_COLUMN = "_row_hash"
PROVENANCE_COLUMNS = [SOURCE_COLUMN, COLLECTED_AT_COLUMN, SOURCE_ROW_COLUMN, ROW_HASH_COLUMN]
# Columns collect or cleanse add themselves: a source carrying one is refused at collect
# (it would be overwritten, or stop the cleanse of its batch).
RESERVED_COLUMNS = (
    *PROVENANCE_COLUMNS,
    ID_COLUMN,
    CLEANSE_SOURCE_ROW_COLUMN,
    *QUARANTINE_COLUMNS,
    REASON_COLUMN,
)


def check_reserved_columns(source: str, columns: Iterable[object]) -> None:
    """Refuse a source whose columns use a name collect or cleanse adds itself.

    Args:
        source: the file, URL or key named in the error.
        columns: its column names.

    Raises:
        SourceReadError: naming the source and the first reserved column it uses.
    """
    present = {str(c) for c in columns}
    clash = [c for c in RESERVED_COLUMNS if c in present]
    if clash:
        raise SourceReadError(
            source,
            f"column {clash[0]!r} is reserved (labelloop adds {', '.join(RESERVED_COLUMNS)} "
            "itself); rename it in the source",
        )


def raw_batch_id(uri: str, checksum: str, part: int) -> str:
    """Deterministic id of part ``part`` of the batch taken from ``uri`` with ``checksum``.

    The same bytes from the same place always give the same ids, so a rerun after a
    crash finds the parts already written instead of writing them twice.

    Args:
        uri: the source object's URI.
        checksum: SHA-256 of its bytes.
        part: 0-based part number.

    Returns:
        e.g. ``"3fa2c1d0e9b8-9c41aa02be77-00000"``.
    """
    where = hashlib.sha256(uri.encode("utf-8")).hexdigest()[:12]
    return f"{where}-{checksum[:12]}-{part:05d}"


def _cell_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def as_text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as nullable text (JSON values as JSON text), for uniform raw schemas.

    Args:
        frame: a chunk from any reader.

    Returns:
        The frame with str columns.
    """
    out = {}
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
            out[str(column)] = series
        else:
            out[str(column)] = pd.Series(
                [_cell_text(v) for v in series], index=frame.index, dtype="str"
            )
    return pd.DataFrame(out, index=frame.index)


def with_provenance(
    frame: pd.DataFrame, *, source: str, collected_at: datetime, first_row: int
) -> pd.DataFrame:
    """Add provenance columns: source URI, collection time, row in the source, row hash.

    Args:
        frame: rows as read.
        source: the source URI.
        collected_at: when (UTC).
        first_row: the source row number of the first row.

    Returns:
        A new frame with ``PROVENANCE_COLUMNS`` appended.

    Raises:
        SourceReadError: naming the source and the column if the frame already has a
            column of ``RESERVED_COLUMNS``.
    """
    check_reserved_columns(source, frame.columns)
    out = frame.reset_index(drop=True)
    content = [str(c) for c in out.columns]
    out[SOURCE_COLUMN] = pd.Series([source] * len(out), dtype="str")
    out[COLLECTED_AT_COLUMN] = pd.Timestamp(collected_at)
    out[SOURCE_ROW_COLUMN] = pd.RangeIndex(first_row, first_row + len(out)).to_numpy()
    out[ROW_HASH_COLUMN] = content_hash(out, content).to_numpy() if content else ""
    return out


@dataclass
class PartWriter:
    """Writes chunks into parquet part files of at most ``batch_rows`` rows.

    A new part starts when the current one is full or when a chunk brings columns the
    current part does not have (missing columns are filled with nulls).
    """

    folder: Path
    batch_rows: int
    parts: list[tuple[Path, int]] = field(default_factory=list)
    _writer: pq.ParquetWriter | None = None
    _schema: pa.Schema | None = None
    _rows: int = 0

    def _roll(self, schema: pa.Schema) -> None:
        self.close()
        path = self.folder / f"part-{len(self.parts):05d}.parquet"
        self._writer = pq.ParquetWriter(path, schema)
        self._schema = schema
        self._rows = 0
        self.parts.append((path, 0))

    def write(self, frame: pd.DataFrame) -> None:
        """Append rows, splitting across parts as needed.

        Args:
            frame: rows with provenance.
        """
        table = pa.Table.from_pandas(frame, preserve_index=False)
        conformed = self._conform(table) if self._schema is not None else None
        if conformed is None:
            self._roll(table.schema)
            conformed = table
        offset = 0
        while offset < conformed.num_rows:
            if self._rows >= self.batch_rows:
                self._roll(conformed.schema)
            piece = conformed.slice(offset, self.batch_rows - self._rows)
            assert self._writer is not None
            self._writer.write_table(piece)
            self._rows += piece.num_rows
            self.parts[-1] = (self.parts[-1][0], self._rows)
            offset += piece.num_rows

    def _conform(self, table: pa.Table) -> pa.Table | None:
        assert self._schema is not None
        if not set(table.schema.names) <= set(self._schema.names):
            return None
        columns = []
        for name, type_ in zip(self._schema.names, self._schema.types, strict=True):
            if name in table.schema.names:
                column = table.column(name)
                if column.type != type_:
                    try:
                        column = column.cast(type_)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                        return None
                columns.append(column)
            else:
                columns.append(pa.nulls(table.num_rows, type_))
        return pa.Table.from_arrays(columns, schema=self._schema)

    def close(self) -> None:
        """Finish the current part."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def iter_parts(writer: PartWriter) -> Iterator[tuple[int, Path, int]]:
    """The finished parts.

    Args:
        writer: a closed writer.

    Yields:
        ``(part number, file, rows)``.
    """
    for number, (path, rows) in enumerate(writer.parts):
        yield number, path, rows
