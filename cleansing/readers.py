"""Chunked readers for CSV, JSON Lines and Parquet, and image files -> one row per image.

Peak memory depends on ``chunk_rows``, not on the file size. Every failure is a
:class:`~cleansing.errors.SourceReadError` (or :class:`~cleansing.errors.MissingColumnError`)
that names the file. Limits are checked before the data is read: the number of columns
from a table's header, an image's pixels from its header (nothing is decoded beyond
``max_pixels``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath
from typing import IO, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, UnidentifiedImageError

from cleansing.errors import MissingColumnError, SourceReadError

TableFormat = Literal["csv", "jsonl", "parquet"]
SourceKind = Literal["csv", "jsonl", "parquet", "image"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"})
TABLE_SUFFIXES: dict[str, TableFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_OTHER_DELIMITERS = (";", "\t", "|")
DEFAULT_CHUNK_ROWS = 100_000
DEFAULT_MAX_COLUMNS = 1_000
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000
# Pillow warns above this many pixels and refuses twice as many: a limit at or below it
# means Pillow's own check never fires before ours.
PILLOW_MAX_IMAGE_PIXELS = 89_478_485
IMAGE_COLUMNS = ["key", "size", "checksum", "width", "height", "format"]


def detect_kind(name: str) -> SourceKind:
    """The kind of a source from its file name.

    Args:
        name: file name, path, URL path or S3 key.

    Returns:
        ``"csv"``, ``"jsonl"``, ``"parquet"`` or ``"image"``.

    Raises:
        SourceReadError: if the suffix is not one of the supported ones.
    """
    suffix = PurePosixPath(name.split("?", 1)[0]).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in TABLE_SUFFIXES:
        return TABLE_SUFFIXES[suffix]
    raise SourceReadError(name, f"unsupported file type {suffix or '(no suffix)'!r}")


def check_column_count(name: str, columns: int, max_columns: int | None) -> None:
    """Refuse a table with more columns than ``max_columns``.

    Args:
        name: the file, URL or key named in the error.
        columns: columns in its header.
        max_columns: the limit; None = no limit.

    Raises:
        SourceReadError: naming the file, its column count and the limit.
    """
    if max_columns is not None and columns > max_columns:
        raise SourceReadError(
            name,
            f"{columns:,} columns, more than max_columns={max_columns:,}; "
            "raise the limit for this source if they are all wanted",
        )


def check_unique_columns(name: str, columns: Sequence[str]) -> None:
    """Refuse a table whose header repeats a column name (Parquet allows it; rows could not
    be told apart by column).

    Args:
        name: the file, URL or key named in the error.
        columns: its column names.

    Raises:
        SourceReadError: naming the file and the first repeated column.
    """
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise SourceReadError(
                name, f"column {column!r} appears {list(columns).count(column)} times"
            )
        seen.add(column)


def check_image_pixels(name: str, width: int, height: int, max_pixels: int) -> None:
    """Refuse an image with more pixels than ``max_pixels`` (from its header, before decoding).

    Args:
        name: the file, URL or key named in the error.
        width: declared width.
        height: declared height.
        max_pixels: the limit.

    Raises:
        SourceReadError: naming the image, its size and the limit.
    """
    if width * height > max_pixels:
        raise SourceReadError(
            name,
            f"{width}x{height} = {width * height:,} pixels, more than "
            f"max_image_pixels={max_pixels:,}; not decoded",
        )


def _check_header(
    columns: Sequence[str], expected: Sequence[str] | None, name: str, delimiter: str
) -> None:
    if not expected:
        return
    present = set(columns)
    missing = [c for c in expected if c not in present]
    if not missing:
        return
    if len(columns) == 1:
        found = [d for d in _OTHER_DELIMITERS if d != delimiter and d in columns[0]]
        if found:
            raise SourceReadError(
                name,
                f"wrong delimiter? the header {columns[0]!r} is one column with {delimiter!r}; "
                f"it contains {found[0]!r}",
            )
    raise MissingColumnError(missing[0], name)


def _decode_error(name: str, exc: UnicodeDecodeError, encoding: str) -> SourceReadError:
    return SourceReadError(
        name,
        f"not valid {encoding} text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start} of a block); "
        "give the source's encoding",
    )


def _csv_header(handle: IO[bytes], encoding: str, delimiter: str) -> list[str]:
    """The first record of a CSV file, read with the standard library's csv module (linear
    in the header's width; pandas takes ~40 s on a 50,000-column header), then rewound."""
    start = handle.tell()
    text = io.TextIOWrapper(handle, encoding=encoding, errors="strict", newline="")
    try:
        return next(csv.reader(text, delimiter=delimiter), [])
    finally:
        text.detach()
        handle.seek(start)


def _iter_csv(
    handle: IO[bytes],
    name: str,
    chunk_rows: int,
    expected: Sequence[str] | None,
    encoding: str,
    delimiter: str,
    max_columns: int | None,
) -> Iterator[pd.DataFrame]:
    try:
        check_column_count(name, len(_csv_header(handle, encoding, delimiter)), max_columns)
        reader = pd.read_csv(
            handle,
            sep=delimiter,
            dtype="str",
            keep_default_na=False,
            chunksize=chunk_rows,
            encoding=encoding,
            encoding_errors="strict",
        )
        with reader:
            first = True
            for chunk in reader:
                if first:
                    _check_header([str(c) for c in chunk.columns], expected, name, delimiter)
                    first = False
                yield chunk
    except pd.errors.EmptyDataError as exc:
        raise SourceReadError(name, "file is empty (no header)") from exc
    except UnicodeDecodeError as exc:
        raise _decode_error(name, exc, encoding) from exc
    except (pd.errors.ParserError, csv.Error) as exc:
        raise SourceReadError(name, f"malformed CSV: {exc}") from exc


def _iter_jsonl(
    handle: IO[bytes],
    name: str,
    chunk_rows: int,
    expected: Sequence[str] | None,
    encoding: str,
    max_columns: int | None,
) -> Iterator[pd.DataFrame]:
    text = io.TextIOWrapper(handle, encoding=encoding, errors="strict", newline="")
    line_number = 0
    seen_any = False
    try:
        while True:
            lines = list(itertools.islice(text, chunk_rows))
            if not lines:
                break
            records = []
            for offset, line in enumerate(lines, start=line_number + 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SourceReadError(name, f"line {offset}: invalid JSON ({exc.msg})") from exc
                if not isinstance(record, dict):
                    raise SourceReadError(
                        name, f"line {offset}: expected a JSON object, got {type(record).__name__}"
                    )
                check_column_count(f"{name}: line {offset}", len(record), max_columns)
                records.append(record)
            line_number += len(lines)
            if not records:
                continue
            frame = pd.DataFrame.from_records(records)
            check_column_count(name, len(frame.columns), max_columns)
            if not seen_any:
                _check_header([str(c) for c in frame.columns], expected, name, ",")
                seen_any = True
            yield frame
    except UnicodeDecodeError as exc:
        raise _decode_error(name, exc, encoding) from exc
    finally:
        text.detach()
    if not seen_any:
        raise SourceReadError(name, "file is empty (no JSON lines)")


def _iter_parquet(
    handle: IO[bytes],
    name: str,
    chunk_rows: int,
    expected: Sequence[str] | None,
    max_columns: int | None,
) -> Iterator[pd.DataFrame]:
    try:
        parquet = pq.ParquetFile(handle)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceReadError(
            name, f"not a readable parquet file (truncated or corrupt?): {exc}"
        ) from exc
    check_column_count(name, len(parquet.schema_arrow.names), max_columns)
    check_unique_columns(name, parquet.schema_arrow.names)
    _check_header(parquet.schema_arrow.names, expected, name, ",")
    try:
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceReadError(
            name, f"parquet data unreadable (truncated or corrupt?): {exc}"
        ) from exc


def _is_empty(handle: IO[bytes]) -> bool:
    position = handle.tell()
    head = handle.read(4096)
    handle.seek(position)
    return not head.strip()


def iter_table_chunks(
    handle: IO[bytes],
    fmt: TableFormat,
    *,
    name: str,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    expected_columns: Sequence[str] | None = None,
    encoding: str = "utf-8",
    delimiter: str = ",",
    max_columns: int | None = DEFAULT_MAX_COLUMNS,
) -> Iterator[pd.DataFrame]:
    """Read a table file chunk by chunk.

    CSV cells arrive as text (NA handling is left to normalisation); JSON Lines values
    keep their JSON types; Parquet keeps its column types.

    Args:
        handle: a seekable binary file object.
        fmt: ``"csv"``, ``"jsonl"`` or ``"parquet"``.
        name: the file, URL or key named in errors.
        chunk_rows: rows per chunk.
        expected_columns: columns that must be present (checked on the header).
        encoding: text encoding for CSV and JSON Lines.
        delimiter: CSV delimiter.
        max_columns: a file with more columns is refused from its header; None = no limit.

    Yields:
        DataFrames of at most ``chunk_rows`` rows.

    Raises:
        SourceReadError: empty, truncated, corrupt, wrongly encoded or wrongly delimited
            file, or more columns than ``max_columns``.
        MissingColumnError: a column of ``expected_columns`` is absent.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    if _is_empty(handle):
        raise SourceReadError(name, "file is empty")
    if fmt == "csv":
        yield from _iter_csv(
            handle, name, chunk_rows, expected_columns, encoding, delimiter, max_columns
        )
    elif fmt == "jsonl":
        yield from _iter_jsonl(handle, name, chunk_rows, expected_columns, encoding, max_columns)
    elif fmt == "parquet":
        yield from _iter_parquet(handle, name, chunk_rows, expected_columns, max_columns)
    else:
        raise ValueError(f"unknown table format {fmt!r}")


def image_record(
    key: str, data: bytes, *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> dict[str, object]:
    """Describe one image: the row collect writes for it.

    The size is read from the header first; an image over ``max_pixels`` is refused
    without decoding it. Only then is it verified and decoded in full (which finds
    truncated data).

    Args:
        key: the image's key in the DataStore (or its source name).
        data: the file's bytes.
        max_pixels: width x height above which the image is refused; at most
            :data:`PILLOW_MAX_IMAGE_PIXELS` (Pillow refuses bigger ones itself).

    Returns:
        ``{"key", "size", "checksum" (sha256 hex), "width", "height", "format"}``.

    Raises:
        SourceReadError: empty, truncated, not an image or too many pixels, naming ``key``.
    """
    if not data:
        raise SourceReadError(key, "image file is empty")
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
    except Image.DecompressionBombError as exc:
        raise SourceReadError(
            key,
            f"more pixels than max_image_pixels={max_pixels:,}, refused before decoding ({exc})",
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SourceReadError(key, f"unreadable or truncated image: {exc}") from exc
    check_image_pixels(key, width, height, max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            image_format = image.format or ""
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SourceReadError(key, f"unreadable or truncated image: {exc}") from exc
    return {
        "key": key,
        "size": len(data),
        "checksum": hashlib.sha256(data).hexdigest(),
        "width": width,
        "height": height,
        "format": image_format,
    }


def image_frame(records: Sequence[dict[str, object]]) -> pd.DataFrame:
    """Rows of :func:`image_record` as a frame with stable column order and dtypes.

    Args:
        records: image records.

    Returns:
        A frame with columns ``IMAGE_COLUMNS``.
    """
    frame = pd.DataFrame.from_records(list(records), columns=IMAGE_COLUMNS)
    return frame.astype(
        {
            "key": "str",
            "size": "int64",
            "checksum": "str",
            "width": "int64",
            "height": "int64",
            "format": "str",
        }
    )
