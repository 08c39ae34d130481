"""Hostile files, generated in a few milliseconds each: nothing is shipped or downloaded."""

from __future__ import annotations

import io
import struct
import zlib

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tests.flows.helpers import digit_png, iris_frame

IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int, bit_depth: int = 1) -> bytes:
    """A valid greyscale PNG of ``width`` x ``height`` black pixels, compressed to almost nothing.

    20000 x 20000 at 1 bit is ~50 KB on disk and 400 million pixels once decoded.
    """
    rows = b"\x00" * (1 + (width * bit_depth + 7) // 8) * 100  # filter byte + a row of zeros
    packer = zlib.compressobj(6)
    body = b"".join(packer.compress(rows) for _ in range(height // 100)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )


def csv_bytes(frame: pd.DataFrame, **kwargs: object) -> bytes:
    return frame.to_csv(index=False, **kwargs).encode(kwargs.get("encoding", "utf-8"))  # type: ignore[arg-type]


def iris_csv() -> bytes:
    """scikit-learn's iris with 9 messy rows (6 are quarantined) and one exact repeat."""
    return csv_bytes(iris_frame())


def reserved_provenance_header() -> bytes:
    """Iris rows that also carry the provenance columns collect adds itself."""
    frame = iris_frame(messy=False).iloc[:5].copy()
    frame["_source"] = "elsewhere.csv"
    frame["_source_row"] = range(5)
    frame["_row_hash"] = "abc"
    return csv_bytes(frame)


def reserved_output_header() -> bytes:
    frame = iris_frame(messy=False).iloc[:5].copy()
    frame["item_id"] = [f"id{i}" for i in range(5)]
    return csv_bytes(frame)


def wide_csv(columns: int) -> bytes:
    """One row: the iris columns, then ``columns - 5`` columns no schema names.

    The iris values are in no iris row, so the row is never a duplicate of a good file's
    row (which copy a duplicate keeps depends on the order files are read).
    """
    names = IRIS_COLUMNS + [f"extra_{i}" for i in range(columns - 5)]
    values = ["7.77", "2.22", "6.66", "2.02", "virginica"] + [" x "] * (columns - 5)
    return (",".join(names) + "\n" + ",".join(values) + "\n").encode()


def semicolon_csv() -> bytes:
    return csv_bytes(iris_frame(), sep=";")


def utf16_csv() -> bytes:
    return iris_frame().to_csv(index=False).encode("utf-16")


def binary_csv() -> bytes:
    return digit_png(3) * 4  # a PNG's bytes under a .csv name


def truncated_parquet() -> bytes:
    buffer = io.BytesIO()
    iris_frame(messy=False).to_parquet(buffer, index=False)
    return buffer.getvalue()[:-64]


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def parquet_repeated_column() -> bytes:
    """Iris rows whose header names ``species`` twice (Parquet allows it)."""
    table = pa.Table.from_pandas(iris_frame(messy=False).iloc[:10], preserve_index=False)
    return _parquet(table.append_column("species", table.column("species")))


def parquet_binary_column() -> bytes:
    """Iris rows plus a binary column holding bytes that are not text."""
    table = pa.Table.from_pandas(iris_frame(messy=False).iloc[:2], preserve_index=False)
    return _parquet(table.append_column("blob", pa.array([b"\x00\x01", b"\xff\xfe"])))


def jsonl_not_objects() -> bytes:
    return b'{"sepal_length": "5.1"}\n[1, 2, 3]\n'


def repeated_rows_csv() -> bytes:
    """Iris's first 50 rows twice: 50 repeat rows inside the file, and all 100 repeat good.csv."""
    frame = iris_frame(messy=False).iloc[:50]
    return csv_bytes(pd.concat([frame, frame], ignore_index=True))


def truncated_png() -> bytes:
    data = digit_png(7)
    return data[: len(data) // 2]


def text_as_png() -> bytes:
    return b"hello, this is not an image\n"
