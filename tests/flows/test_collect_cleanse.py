from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from blocks import DataStore
from cleansing.errors import BatchesFailedError
from collection.sources import LocalSource
from flows.cleanse import CleanseParams, cleanse
from flows.collect import CollectParams, collect, load_manifest
from storage.layout import cleanse_manifest_key
from tests.flows.helpers import (
    IRIS_SCHEMA,
    digit_png,
    iris_frame,
    read_all,
    snapshot,
)


def _collect(store: DataStore, folder: Path, dataset: str = "iris", **kwargs) -> object:
    params = CollectParams(dataset=dataset, sources=[LocalSource(path=str(folder))], **kwargs)
    return collect(params, store=store)


def load_cleanse_manifest(store: DataStore) -> dict[str, object]:
    return store.read_json(cleanse_manifest_key("iris"))


def _cleanse(
    store: DataStore, dataset: str = "iris", schema: str = IRIS_SCHEMA, **kwargs
) -> object:
    return cleanse(CleanseParams(dataset=dataset, schema_path=schema, **kwargs), store=store)


def test_collect_is_incremental_and_cleanse_counts_every_row(tmp_path: Path) -> None:
    store = DataStore(base_path=str(tmp_path / "store"))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    iris_frame().to_csv(incoming / "iris.csv", index=False)
    first = _collect(store, incoming, schema_path=IRIS_SCHEMA)
    assert (first.new_files, first.new_rows, first.failed) == (1, 150, {})
    raw = read_all(store, "raw/iris/")
    assert {"_source", "_collected_at", "_row_hash", "_source_row"} <= set(raw.columns)
    assert raw["_source"].unique().tolist() == [str((incoming / "iris.csv").resolve())]

    before = snapshot(store)
    again = _collect(store, incoming, schema_path=IRIS_SCHEMA)
    assert again.message == "iris: 0 new"
    assert snapshot(store) == before

    result = _cleanse(store)
    (report,) = result.batches
    assert report.rows_in == 150 == report.clean + report.quarantined + report.duplicates
    # NA, -1, abc, rose, n/a, 99 fail; "  SETOSA", "Virginica " and " 0.2 " are normalised
    assert report.quarantined == 6
    assert report.duplicates == 1  # iris itself holds one exact repeat (rows 101 and 142)
    clean = read_all(store, "clean/iris/")
    quarantine = read_all(store, "quarantine/iris/")
    assert clean["item_id"].is_unique and len(clean) == report.clean
    assert set(clean["species"]) == {"setosa", "versicolor", "virginica"}
    assert "species: isin(['setosa', 'versicolor', 'virginica'])" in set(
        quarantine["quarantine_column"] + ": " + quarantine["quarantine_check"]
    )
    assert _cleanse(store).message == "iris: 0 new batches"


def test_new_file_with_known_rows_counts_them_as_already_clean(tmp_path: Path) -> None:
    store = DataStore(base_path=str(tmp_path / "store"))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    frame = iris_frame(messy=False)
    frame.iloc[:100].to_csv(incoming / "a.csv", index=False)
    _collect(store, incoming)
    _cleanse(store)
    clean_before = len(read_all(store, "clean/iris/"))
    frame.iloc[50:].to_csv(incoming / "b.csv", index=False)  # rows 50..99 again, 100..149 new
    assert _collect(store, incoming).new_files == 1
    (report,) = _cleanse(store).batches
    assert report.duplicates_by_reason.get("already_clean") == 50
    clean_after = read_all(store, "clean/iris/")
    assert len(clean_after) == clean_before + report.clean
    assert clean_after["item_id"].is_unique


def test_duplicates_across_batches_of_one_run_are_moved_not_lost(tmp_path: Path) -> None:
    store = DataStore(base_path=str(tmp_path / "store"))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    frame = iris_frame(messy=False)
    frame.to_csv(incoming / "a.csv", index=False)
    frame.iloc[:40].to_csv(incoming / "b.csv", index=False)
    _collect(store, incoming, batch_rows=60)  # a.csv -> 3 batches, b.csv -> 1
    result = _cleanse(store, chunk_rows=25)
    assert len(result.batches) == 4
    for report in result.batches:
        assert report.rows_in == report.clean + report.quarantined + report.duplicates
    clean = read_all(store, "clean/iris/")
    duplicates = read_all(store, "duplicates/iris/")
    assert clean["item_id"].is_unique
    assert len(clean) + len(duplicates) == 190
    assert set(duplicates["item_id"]) <= set(clean["item_id"])
    assert result.total.duplicates == len(duplicates)


def test_bad_file_is_recorded_reported_and_retried(tmp_path: Path) -> None:
    store = DataStore(base_path=str(tmp_path / "store"))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    iris_frame().to_csv(incoming / "good.csv", index=False)
    iris_frame().to_csv(incoming / "semicolons.csv", index=False, sep=";")
    (incoming / "empty.csv").write_bytes(b"")
    first = _collect(store, incoming, schema_path=IRIS_SCHEMA)
    assert first.new_files == 1
    assert sorted(Path(u).name for u in first.failed) == ["empty.csv", "semicolons.csv"]
    assert "wrong delimiter" in first.failed[str((incoming / "semicolons.csv").resolve())]
    manifest = load_manifest(store, "iris")
    assert manifest.entries[str((incoming / "empty.csv").resolve())].error.endswith("file is empty")

    iris_frame().to_csv(incoming / "semicolons.csv", index=False)  # fixed by its owner
    second = _collect(store, incoming, schema_path=IRIS_SCHEMA)
    assert second.new_files == 1
    entry = load_manifest(store, "iris").entries[str((incoming / "semicolons.csv").resolve())]
    assert (entry.status, entry.attempts) == ("collected", 2)


def test_missing_required_column_fails_that_batch_naming_column_and_batch(tmp_path: Path) -> None:
    store = DataStore(base_path=str(tmp_path / "store"))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    iris_frame().drop(columns=["petal_width"]).to_csv(incoming / "narrow.csv", index=False)
    iris_frame().to_csv(incoming / "good.csv", index=False)
    _collect(store, incoming)  # no schema at collect: files are taken as they are
    with pytest.raises(
        BatchesFailedError, match=r"raw/iris/.*\.parquet: required column 'petal_width'"
    ):
        _cleanse(store)
    assert len(read_all(store, "clean/iris/")) > 0  # the good batch went through
    assert len(load_cleanse_manifest(store)) == 1  # ...and is recorded; the bad one is retried
    with pytest.raises(BatchesFailedError, match="1 batch"):
        _cleanse(store)


class _CrashingStore(DataStore):
    """A local store that fails when the collect manifest is saved (a crash mid-run)."""

    _block_type_slug = "test-crashing-data-store"

    def replace_json(self, key: str, document: object) -> None:
        if key.startswith("state/collect/"):
            raise OSError("simulated crash before the manifest was saved")
        super().replace_json(key, document)


def test_crash_before_manifest_then_rerun_collects_each_file_once(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    iris_frame().to_csv(incoming / "a.csv", index=False)
    iris_frame(seed=1).iloc[:80].to_csv(incoming / "b.csv", index=False)
    crashing = _CrashingStore(base_path=str(tmp_path / "store"))
    with pytest.raises(OSError, match="simulated crash"):
        _collect(crashing, incoming, batch_rows=100)
    store = DataStore(base_path=str(tmp_path / "store"))
    written = store.list_keys("raw/iris/")
    rerun = _collect(store, incoming, batch_rows=100)
    assert store.list_keys("raw/iris/") == written  # same deterministic parts, none twice
    assert rerun.new_files == 0 and rerun.failed == {}
    assert len(read_all(store, "raw/iris/")) == 230
    assert _collect(store, incoming, batch_rows=100).message == "iris: 0 new"


def test_images_become_one_row_each_with_bytes_in_the_store(tmp_path: Path) -> None:
    store = DataStore(base_path=str(tmp_path / "store"))
    incoming = tmp_path / "digits"
    incoming.mkdir()
    for index in range(6):
        (incoming / f"{index}.png").write_bytes(digit_png(index))
    (incoming / "copy-of-0.png").write_bytes(digit_png(0))
    (incoming / "broken.png").write_bytes(digit_png(7)[:40])
    result = _collect(store, incoming, dataset="digits", image_group_size=4)
    assert result.new_rows == 7
    assert list(result.failed) == [str((incoming / "broken.png").resolve())]
    raw = read_all(store, "raw/digits/")
    for key, checksum in zip(raw["key"], raw["checksum"], strict=True):
        assert store.exists(key) and checksum in key
    cleansed = cleanse(CleanseParams(dataset="digits"), store=store)  # the shipped schema
    assert cleansed.total.clean == 6
    assert cleansed.total.duplicates == 1  # the copy of 0.png: same bytes, same item_id
    assert len(store.list_keys("raw/digits/files/")) == 6


def test_raw_rows_keep_their_source_row_numbers(tmp_path: Path) -> None:
    store = DataStore(base_path=str(tmp_path / "store"))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    iris_frame().to_csv(incoming / "a.csv", index=False)
    _collect(store, incoming, batch_rows=64, chunk_rows=10)
    raw = read_all(store, "raw/iris/").sort_values("_source_row")
    assert raw["_source_row"].tolist() == list(range(150))
    expected = pd.read_csv(incoming / "a.csv", dtype="str", keep_default_na=False)
    assert raw["sepal_length"].tolist() == expected["sepal_length"].tolist()
