import io
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from cleansing.errors import MissingColumnError, SourceReadError
from cleansing.readers import (
    check_column_count,
    check_unique_columns,
    detect_kind,
    image_frame,
    image_record,
    iter_table_chunks,
)

FIXTURES = Path(__file__).parents[2] / "fixtures"
IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]


def _read(data: bytes, fmt, **kwargs) -> list[pd.DataFrame]:
    return list(iter_table_chunks(io.BytesIO(data), fmt, name="src/file", **kwargs))


def _iris_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.uniform(1, 7, rows).round(1) for c in IRIS_COLUMNS[:4]})
    frame["species"] = rng.choice(["setosa", "virginica"], rows)
    return frame


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_chunks_are_bounded_and_complete(fmt):
    frame = _iris_frame(2_500)
    buffer = io.BytesIO()
    if fmt == "csv":
        frame.to_csv(buffer, index=False)
    elif fmt == "jsonl":
        frame.to_json(buffer, orient="records", lines=True)
    else:
        frame.to_parquet(buffer, row_group_size=500)
    chunks = _read(buffer.getvalue(), fmt, chunk_rows=1_000, expected_columns=IRIS_COLUMNS)
    assert [len(c) for c in chunks] == [1_000, 1_000, 500]
    joined = pd.concat(chunks, ignore_index=True)
    assert joined["species"].tolist() == frame["species"].tolist()
    assert np.allclose(joined["sepal_length"].astype(float), frame["sepal_length"])


def test_csv_cells_arrive_as_text_for_normalisation():
    (chunk,) = _read(
        (FIXTURES / "iris_messy.csv").read_bytes(), "csv", expected_columns=IRIS_COLUMNS
    )
    assert chunk.loc[1, "sepal_length"] == " 4.9 "
    assert chunk.loc[4, "sepal_length"] == "NA"


@pytest.mark.parametrize(
    ("fmt", "data", "message"),
    [
        ("csv", b"", "src/file: file is empty"),
        ("csv", b"  \n\n", "src/file: file is empty"),
        ("jsonl", b"", "src/file: file is empty"),
        ("parquet", b"", "src/file: file is empty"),
        ("csv", "a,b\né,1\n".encode("latin-1"), "src/file: not valid utf-8 text"),
        ("jsonl", b'{"a": 1}\n{"a": \n', "src/file: line 2: invalid JSON"),
        ("jsonl", b'{"a": 1}\n[1, 2]\n', "src/file: line 2: expected a JSON object"),
        ("parquet", b"PAR1 this is not parquet", "src/file: not a readable parquet file"),
        ("csv", b'a,b\n1,2,3,4\n"x,1\n', "src/file: malformed CSV"),
    ],
)
def test_bad_files_name_the_file(fmt, data, message):
    with pytest.raises(SourceReadError, match=message):
        _read(data, fmt)


def test_truncated_parquet_names_file():
    buffer = io.BytesIO()
    _iris_frame(100).to_parquet(buffer)
    with pytest.raises(SourceReadError, match="src/file: .*parquet"):
        _read(buffer.getvalue()[:-40], "parquet")


def test_wrong_delimiter_is_explained():
    data = b"sepal_length;sepal_width;petal_length;petal_width;species\n1;2;3;4;setosa\n"
    with pytest.raises(SourceReadError, match="wrong delimiter.*';'"):
        _read(data, "csv", expected_columns=IRIS_COLUMNS)
    (chunk,) = _read(data, "csv", expected_columns=IRIS_COLUMNS, delimiter=";")
    assert chunk.loc[0, "species"] == "setosa"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_missing_column_named_with_file(fmt):
    frame = _iris_frame(3).drop(columns=["petal_width"])
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False) if fmt == "csv" else frame.to_parquet(buffer)
    with pytest.raises(MissingColumnError, match="src/file: required column 'petal_width'"):
        _read(buffer.getvalue(), fmt, expected_columns=IRIS_COLUMNS)


def test_latin1_file_reads_with_its_encoding():
    (chunk,) = _read("text\ncafé\n".encode("latin-1"), "csv", encoding="latin-1")
    assert chunk["text"].tolist() == ["café"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a/b.CSV", "csv"),
        ("x.jsonl", "jsonl"),
        ("s3/k.parquet", "parquet"),
        ("img/1.png", "image"),
        ("u.csv?x=1", "csv"),
    ],
)
def test_detect_kind(name, kind):
    assert detect_kind(name) == kind


def test_detect_kind_rejects_unknown_suffix():
    with pytest.raises(SourceReadError, match="notes.docx"):
        detect_kind("notes.docx")


def _digit_png(index: int) -> bytes:
    image = load_digits().images[index]
    buffer = io.BytesIO()
    Image.fromarray((image * 255 / 16).astype("uint8")).save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_record_describes_real_digit():
    data = _digit_png(0)
    record = image_record("digits/0.png", data)
    assert record["size"] == len(data)
    assert (record["width"], record["height"], record["format"]) == (8, 8, "PNG")
    assert len(record["checksum"]) == 64
    frame = image_frame([record, image_record("digits/1.png", _digit_png(1))])
    assert frame["key"].tolist() == ["digits/0.png", "digits/1.png"]
    assert frame["checksum"].nunique() == 2


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[: len(b) // 2], "digits/bad.png: unreadable or truncated image"),
        (lambda b: b"", "digits/bad.png: image file is empty"),
        (lambda b: b"hello, not an image", "digits/bad.png: unreadable"),
    ],
)
def test_bad_images_name_the_key(mutate, message):
    with pytest.raises(SourceReadError, match=message):
        image_record("digits/bad.png", mutate(_digit_png(0)))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring a size, with no pixel data: Pillow reads the size from its header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("width", "height", "max_pixels", "message"),
    [
        (20_000, 20_000, 40_000_000, r"more pixels than max_image_pixels=40,000,000, refused"),
        (8_000, 8_000, 40_000_000, r"8000x8000 = 64,000,000 pixels, more than max_image_pixels"),
        (100, 100, 9_999, r"100x100 = 10,000 pixels, more than max_image_pixels=9,999"),
    ],
)
def test_images_over_the_pixel_limit_are_refused_from_the_header(
    width, height, max_pixels, message
):
    with pytest.raises(SourceReadError, match="big.png: " + message):
        image_record("big.png", _png_header_only(width, height), max_pixels=max_pixels)


def test_image_at_the_pixel_limit_is_read():
    assert image_record("d.png", _digit_png(0), max_pixels=64)["width"] == 8


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_tables_over_the_column_limit_are_refused(fmt):
    frame = pd.DataFrame({f"c{i}": ["1"] for i in range(12)})
    buffer = io.BytesIO()
    if fmt == "csv":
        frame.to_csv(buffer, index=False)
    elif fmt == "jsonl":
        frame.to_json(buffer, orient="records", lines=True)
    else:
        frame.to_parquet(buffer)
    with pytest.raises(SourceReadError, match="src/file.*: 12 columns, more than max_columns=10"):
        _read(buffer.getvalue(), fmt, max_columns=10)
    assert len(_read(buffer.getvalue(), fmt, max_columns=12)[0].columns) == 12


def test_check_column_count_and_unique_columns():
    check_column_count("f", 3, 3)
    check_unique_columns("f", ["a", "b"])
    with pytest.raises(SourceReadError, match="f: column 'a' appears 3 times"):
        check_unique_columns("f", ["a", "b", "a", "a"])
