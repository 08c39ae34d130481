from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cleansing.errors import SourceReadError
from collection.batches import (
    PROVENANCE_COLUMNS,
    PartWriter,
    as_text_frame,
    raw_batch_id,
    with_provenance,
)
from collection.manifest import Manifest, ManifestEntry, plan_collection, unchanged
from collection.sources import LocalSource, SourceObject, check_file_size, fetch, list_local

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _entry(
    uri: str, status: str = "collected", version: str | None = "v1", checksum: str = "c1"
) -> ManifestEntry:
    return ManifestEntry(uri=uri, status=status, version=version, checksum=checksum, updated_at=NOW)


@pytest.mark.parametrize(
    ("listed_version", "entry", "planned"),
    [
        ("v1", None, True),  # new
        ("v1", _entry("a"), False),  # same version
        ("v2", _entry("a"), True),  # changed
        ("v1", _entry("a", status="failed"), True),  # failed before: retried
        (None, _entry("a"), True),  # no version (HTTP): fetched, checksum decides
    ],
)
def test_plan_collection(listed_version, entry, planned):
    manifest = Manifest(dataset="d")
    if entry is not None:
        manifest = manifest.record(entry)
    result = plan_collection(
        [SourceObject(uri="a", name="a.csv", version=listed_version)], manifest
    )
    assert (len(result) == 1) is planned


def test_plan_collection_drops_repeated_uris_and_keeps_order():
    objs = [SourceObject(uri=u, name=f"{u}.csv", version="v") for u in ["b", "a", "b"]]
    assert [o.uri for o in plan_collection(objs, Manifest(dataset="d"))] == ["b", "a"]


@pytest.mark.parametrize(
    ("entry", "checksum", "expected"),
    [
        (None, "c1", False),
        (_entry("a"), "c1", True),
        (_entry("a"), "c2", False),
        (_entry("a", status="failed"), "c1", False),
    ],
)
def test_unchanged(entry, checksum, expected):
    assert unchanged(entry, checksum) is expected


def test_manifest_round_trips_through_json():
    manifest = Manifest(dataset="d").record(_entry("a")).record(_entry("b", status="failed"))
    assert Manifest.model_validate_json(manifest.model_dump_json()) == manifest


def test_batch_ids_are_deterministic_and_distinct():
    assert raw_batch_id("s3://b/k.csv", "ab" * 32, 0) == raw_batch_id("s3://b/k.csv", "ab" * 32, 0)
    ids = {raw_batch_id(u, c, p) for u in ("x", "y") for c in ("a" * 64, "b" * 64) for p in (0, 1)}
    assert len(ids) == 8


def test_provenance_columns_and_row_hash_ignore_provenance():
    frame = pd.DataFrame({"a": ["1", "1"], "b": ["x", "x"]})
    out = with_provenance(frame, source="f.csv", collected_at=NOW, first_row=10)
    assert list(out.columns) == ["a", "b", *PROVENANCE_COLUMNS]
    assert out["_source_row"].tolist() == [10, 11]
    assert out["_row_hash"].nunique() == 1  # same content, same hash, whatever the row number
    with pytest.raises(SourceReadError, match="f.csv: column '_source' is reserved"):
        with_provenance(out, source="f.csv", collected_at=NOW, first_row=0)


@pytest.mark.parametrize("column", ["_row_hash", "item_id", "source_row", "quarantine_check"])
def test_a_source_using_a_reserved_column_is_refused_naming_file_and_column(column):
    frame = pd.DataFrame({"a": ["1"], column: ["x"]})
    with pytest.raises(SourceReadError, match=f"f.csv: column '{column}' is reserved"):
        with_provenance(frame, source="f.csv", collected_at=NOW, first_row=0)


@pytest.mark.parametrize(
    ("name", "size", "limit", "message"),
    [
        ("/in/a.csv", 2_000, 1_000, "/in/a.csv: 2,000 bytes, more than max_file_bytes=1,000"),
        ("/in/a.png", 2_000, 1_000, "/in/a.png: 2,000 bytes, more than max_image_bytes=1,000"),
    ],
)
def test_files_over_the_size_limit_are_refused_before_reading(tmp_path, name, size, limit, message):
    with pytest.raises(SourceReadError, match=message):
        check_file_size(name, size, limit)
    check_file_size(name, size, size)
    check_file_size(name, None, limit)  # unknown size: the download is bounded instead
    path = tmp_path / Path(name).name
    path.write_bytes(b"x" * size)
    obj = SourceObject(uri=str(path), name=path.name)  # no listed size: checked on disk
    with pytest.raises(SourceReadError, match="bytes, more than"), fetch(obj, max_bytes=limit):
        pass


def test_json_values_become_text():
    frame = pd.DataFrame({"n": [1, None], "o": [{"k": 1}, [1, 2]], "b": [True, False]})
    text = as_text_frame(frame)
    assert [None if pd.isna(v) else v for v in text["n"]] == ["1.0", None]
    assert text["o"].tolist() == ['{"k": 1}', "[1, 2]"]
    assert text["b"].tolist() == ["true", "false"]


def test_part_writer_splits_rows_and_rolls_on_new_columns(tmp_path: Path):
    writer = PartWriter(folder=tmp_path, batch_rows=4)
    writer.write(pd.DataFrame({"a": [str(i) for i in range(6)]}))
    writer.write(pd.DataFrame({"a": ["x"]}))
    writer.write(pd.DataFrame({"a": ["y"], "b": ["z"]}))
    writer.close()
    shapes = [(rows, pq.read_table(path).column_names) for path, rows in writer.parts]
    assert shapes == [(4, ["a"]), (3, ["a"]), (1, ["a", "b"])]


def test_list_local_glob_folder_and_nothing(tmp_path: Path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.png").write_bytes(b"png")
    (tmp_path / "notes.txt").write_text("ignored")
    names = [o.name for o in list_local(LocalSource(path=str(tmp_path)))]
    assert names == ["a.csv", "b.png"]
    assert [o.name for o in list_local(LocalSource(path=str(tmp_path / "*.csv")))] == ["a.csv"]
    with pytest.raises(SourceReadError, match="no file matches"):
        list_local(LocalSource(path=str(tmp_path / "nothing-*.csv")))


def test_local_version_changes_with_content(tmp_path: Path):
    path = tmp_path / "a.csv"
    path.write_text("x\n1\n")
    (first,) = list_local(LocalSource(path=str(path)))
    path.write_text("x\n1\n2\n")
    (second,) = list_local(LocalSource(path=str(path)))
    assert first.version != second.version
    with fetch(second) as fetched:
        assert fetched.path == path.resolve() and len(fetched.checksum) == 64
