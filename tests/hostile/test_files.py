"""The standing corpus of hostile files: each one fails alone (or goes through), never the run.

Every case puts one hostile file beside good files, runs the real collect and cleanse
flows on a local store and checks what must happen:

* a refused file is a ``failed`` entry of the collect manifest and a ``failed`` row of
  the run's table artifact, with an error that names the file and what is wrong;
* every other file of the same run is collected with all its rows;
* cleanse takes every raw row and the counting rule holds for every batch:
  raw rows = clean + quarantined + duplicates.

A new bug's reproduction goes here first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.testing.utilities import prefect_test_harness

from blocks import DataStore
from collection.manifest import Manifest
from collection.sources import LocalSource
from flows.cleanse import CleanseParams, CleanseResult, cleanse
from flows.collect import CollectParams, CollectResult, collect, load_manifest
from tests.flows.helpers import IRIS_SCHEMA, digit_png, iris_frame, read_all
from tests.hostile import files


@pytest.fixture(scope="module", autouse=True)
def harness() -> Iterator[None]:
    """The flows run against a temporary Prefect server, started once for the corpus."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


GOOD_TABLES: dict[str, Callable[[], bytes]] = {
    "good.csv": files.iris_csv,  # 150 rows: 6 quarantined, 1 duplicate
    "good.jsonl": lambda: iris_frame(messy=False, seed=1)
    .iloc[100:120]
    .to_json(orient="records", lines=True)
    .encode(),
}
GOOD_TABLE_ROWS = {"good.csv": 150, "good.jsonl": 20}
GOOD_IMAGES: dict[str, Callable[[], bytes]] = {
    f"{d}.png": (lambda d=d: digit_png(d)) for d in range(4)
}

Check = Callable[[DataStore, CollectResult, CleanseResult], None]


@dataclass(frozen=True)
class Case:
    """One hostile file and what must happen to it.

    Attributes:
        id: the case's name (the test id).
        name: the hostile file's name in the landing folder.
        make: builds its bytes.
        must: what must happen, in words.
        error: a pattern the file's recorded error must match; None = the file goes through.
        params: collect parameters of this case (limits lowered to keep the file small).
        check: what else must hold after collect and cleanse.
    """

    id: str
    name: str
    make: Callable[[], bytes]
    must: str
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    check: Check | None = None


def _extra_columns_pass_through(store: DataStore, _: CollectResult, result: CleanseResult) -> None:
    clean = read_all(store, "clean/iris/")
    wide = clean[clean["extra_0"].notna()]
    assert len(wide) == 1  # the wide row is clean...
    assert wide["extra_0"].iloc[0] == " x "  # ...and columns no schema names pass as read
    assert "extra_0" not in result.total.normalise.trimmed


def _repeats_counted(store: DataStore, _: CollectResult, result: CleanseResult) -> None:
    # 100 rows repeat good.csv's rows (1 of the 50 is also a repeat within iris itself)
    assert result.total.duplicates >= 101
    assert read_all(store, "clean/iris/")["item_id"].is_unique


def _keys_stay_in_the_store(store: DataStore, collected: CollectResult, _: CleanseResult) -> None:
    assert collected.failed == {}
    root = Path(store.base_path).resolve()
    for key in store.list_keys(""):
        assert re.fullmatch(
            r"(raw|clean|quarantine|duplicates|state|monitoring)/[a-z0-9_./-]+", key
        ), key
        assert (root / key).resolve().is_relative_to(root)


def _copy_counted(store: DataStore, _: CollectResult, result: CleanseResult) -> None:
    assert result.total.duplicates == 1
    assert len(store.list_keys("raw/digits/files/")) == len(GOOD_IMAGES)


TABLE_CASES = [
    Case(
        "reserved-provenance-header",
        "provenance.csv",
        files.reserved_provenance_header,
        "a header using _source/_source_row/_row_hash fails alone, naming the file and column",
        r"provenance\.csv: column '_source' is reserved",
    ),
    Case(
        "reserved-output-header",
        "with-item-id.csv",
        files.reserved_output_header,
        "a header with item_id (cleanse's own column) fails at collect, not in cleanse",
        r"with-item-id\.csv: column 'item_id' is reserved",
    ),
    Case(
        "fifty-thousand-columns",
        "wide.csv",
        lambda: files.wide_csv(50_000),
        "a 1-row CSV with 50,000 columns is refused from its header by max_columns",
        r"wide\.csv: 50,000 columns, more than max_columns=1,000",
    ),
    Case(
        "wide-within-limit",
        "wide.csv",
        lambda: files.wide_csv(300),
        "300 columns are taken; columns the schema does not name pass through as read",
        None,
        check=_extra_columns_pass_through,
    ),
    Case(
        "wrong-delimiter",
        "semicolons.csv",
        files.semicolon_csv,
        "a ;-separated file fails alone and says which delimiter it contains",
        r"semicolons\.csv: wrong delimiter\? .* it contains ';'",
    ),
    Case(
        "utf-16",
        "utf16.csv",
        files.utf16_csv,
        "a UTF-16 file fails alone and asks for the source's encoding",
        r"utf16\.csv: not valid utf-8 text .*give the source's encoding",
    ),
    Case(
        "binary-as-csv",
        "binary.csv",
        files.binary_csv,
        "binary bytes under a .csv name fail alone",
        r"binary\.csv: not valid utf-8 text",
    ),
    Case(
        "truncated-parquet",
        "cut.parquet",
        files.truncated_parquet,
        "a truncated parquet file fails alone",
        r"cut\.parquet: not a readable parquet file \(truncated or corrupt\?\)",
    ),
    Case(
        "empty-csv",
        "empty.csv",
        lambda: b"",
        "an empty file fails alone",
        r"empty\.csv: file is empty",
    ),
    Case(
        "parquet-repeated-column",
        "repeated.parquet",
        files.parquet_repeated_column,
        "a Parquet header naming a column twice fails alone, naming the column",
        r"repeated\.parquet: column 'species' appears 2 times",
    ),
    Case(
        "parquet-binary-column",
        "bytes.parquet",
        files.parquet_binary_column,
        "an error no reader foresaw (bytes that are not text) fails that file alone, "
        "naming the file and the exception",
        r"bytes\.parquet: unexpected UnicodeDecodeError while reading: 'utf-8' codec",
    ),
    Case(
        "json-lines-not-objects",
        "arrays.jsonl",
        files.jsonl_not_objects,
        "a JSON Lines file with an array line fails alone, naming the line",
        r"arrays\.jsonl: line 2: expected a JSON object, got list",
    ),
    Case(
        "larger-than-max-file-bytes",
        "big.csv",
        lambda: files.csv_bytes(
            iris_frame(messy=False).sample(2_000, replace=True, random_state=0)
        ),
        "a file over max_file_bytes is refused before it is read",
        r"big\.csv: \d[\d,]* bytes, more than max_file_bytes=16,384",
        params={"max_file_bytes": 16_384},
    ),
    Case(
        "repeated-rows",
        "repeats.csv",
        files.repeated_rows_csv,
        "rows repeated inside the file and across files are counted as duplicates, not lost",
        None,
        check=_repeats_counted,
    ),
    Case(
        "path-like-file-name",
        "evil\\..\\..\\name.csv",
        files.iris_csv,
        "a file named like a path (backslashes, ..) is collected under content-derived keys only",
        None,
        check=_keys_stay_in_the_store,
    ),
]

IMAGE_CASES = [
    Case(
        "decompression-bomb",
        "bomb.png",
        lambda: files.png_declaring(20_000, 20_000),
        "a ~50 KB PNG declaring 20000x20000 pixels fails alone, refused before decoding",
        r"bomb\.png: .*more pixels than max_image_pixels=40,000,000",
    ),
    Case(
        "larger-than-max-image-pixels",
        "huge.png",
        lambda: files.png_declaring(8_000, 8_000, bit_depth=8),
        "an 8000x8000 image is refused from its header (64,000,000 pixels), not decoded",
        r"huge\.png: 8000x8000 = 64,000,000 pixels, more than max_image_pixels=40,000,000",
    ),
    Case(
        "truncated-png",
        "cut.png",
        files.truncated_png,
        "a truncated PNG fails alone",
        r"cut\.png: unreadable or truncated image",
    ),
    Case(
        "empty-png",
        "empty.png",
        lambda: b"",
        "an empty .png fails alone",
        r"empty\.png: image file is empty",
    ),
    Case(
        "text-as-png",
        "text.png",
        files.text_as_png,
        "text under a .png name fails alone",
        r"text\.png: unreadable or truncated image: cannot identify image file",
    ),
    Case(
        "larger-than-max-image-bytes",
        "padded.png",
        lambda: files.png_declaring(300, 300, bit_depth=8) + b"\0" * 40_000,
        "an image file over max_image_bytes is refused before it is read",
        r"padded\.png: \d[\d,]* bytes, more than max_image_bytes=32,768",
        params={"max_image_bytes": 32_768},
    ),
    Case(
        "copied-image",
        "copy-of-0.png",
        lambda: digit_png(0),
        "the same bytes under another name are one item: counted once as a duplicate",
        None,
        check=_copy_counted,
    ),
]


def _artifact_rows(dataset: str) -> list[dict[str, Any]]:
    """The rows of the latest collect artifact of the data set."""
    with get_client(sync_client=True) as client:
        [artifact] = client.read_latest_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"collect-{dataset}"]))
        )
    data = artifact.data
    return json.loads(data) if isinstance(data, str) else list(data)  # type: ignore[arg-type]


def _landing(folder: Path, good: dict[str, Callable[[], bytes]], case: Case) -> str:
    folder.mkdir()
    for name, make in good.items():
        (folder / name).write_bytes(make())
    hostile = folder / case.name
    hostile.write_bytes(case.make())
    return str(hostile.resolve())


def _check_the_run(
    store: DataStore,
    case: Case,
    dataset: str,
    uri: str,
    collected: CollectResult,
    good_rows: dict[str, int],
) -> Manifest:
    """The hostile file failed alone (or went through) and every good file was collected."""
    manifest = load_manifest(store, dataset)
    if case.error is None:
        assert collected.failed == {}, case.must
        assert manifest.entries[uri].status == "collected"
    else:
        assert list(collected.failed) == [uri], case.must
        assert re.search(case.error, collected.failed[uri]), collected.failed[uri]
        entry = manifest.entries[uri]
        assert (entry.status, entry.error) == ("failed", collected.failed[uri])
        rows = {row["file"]: row for row in _artifact_rows(dataset)}
        assert rows[uri]["status"] == "failed"
        assert rows[uri]["error"] == collected.failed[uri]
    for name, rows_expected in good_rows.items():
        good = manifest.entries[str(Path(uri).parent / name)]
        assert (good.status, good.rows) == ("collected", rows_expected), name
    return manifest


def _check_counts(
    store: DataStore, dataset: str, manifest: Manifest, result: CleanseResult
) -> None:
    raw_rows = len(read_all(store, f"raw/{dataset}/"))
    collected = sum(e.rows for e in manifest.entries.values() if e.status == "collected")
    assert raw_rows == collected == result.total.rows_in
    for report in result.batches:
        assert report.rows_in == report.clean + report.quarantined + report.duplicates
    total = result.total
    assert total.rows_in == total.clean + total.quarantined + total.duplicates


@pytest.mark.parametrize("case", TABLE_CASES, ids=[c.id for c in TABLE_CASES])
def test_hostile_table_file(case: Case, tmp_path: Path) -> None:
    store = DataStore(base_path=str(tmp_path / "store"))
    uri = _landing(tmp_path / "incoming", GOOD_TABLES, case)
    params = CollectParams(
        dataset="iris",
        sources=[LocalSource(path=str(tmp_path / "incoming"))],
        schema_path=IRIS_SCHEMA,
        **case.params,
    )
    collected = collect(params, store=store)
    manifest = _check_the_run(store, case, "iris", uri, collected, GOOD_TABLE_ROWS)
    result = cleanse(CleanseParams(dataset="iris", schema_path=IRIS_SCHEMA), store=store)
    _check_counts(store, "iris", manifest, result)
    assert result.total.quarantined >= 6  # good.csv's bad rows, quarantined not dropped
    if case.check is not None:
        case.check(store, collected, result)


@pytest.mark.parametrize("case", IMAGE_CASES, ids=[c.id for c in IMAGE_CASES])
def test_hostile_image_file(case: Case, tmp_path: Path) -> None:
    store = DataStore(base_path=str(tmp_path / "store"))
    uri = _landing(tmp_path / "digits", GOOD_IMAGES, case)
    params = CollectParams(
        dataset="digits", sources=[LocalSource(path=str(tmp_path / "digits"))], **case.params
    )
    collected = collect(params, store=store)
    manifest = _check_the_run(store, case, "digits", uri, collected, dict.fromkeys(GOOD_IMAGES, 1))
    result = cleanse(CleanseParams(dataset="digits"), store=store)  # the shipped schema
    _check_counts(store, "digits", manifest, result)
    if case.check is not None:
        case.check(store, collected, result)
    else:
        assert result.total.clean == len(GOOD_IMAGES)


@pytest.mark.parametrize(
    "key", ["../escape.parquet", "/etc/passwd", "raw\\..\\..\\x.parquet", "raw/../../x.parquet"]
)
def test_store_keys_that_leave_the_store_are_refused(key: str, tmp_path: Path) -> None:
    store = DataStore(base_path=str(tmp_path / "store"))
    with pytest.raises(ValueError, match="invalid store key"):
        store.write_bytes(key, b"x")
    with pytest.raises(ValueError, match="invalid store key"):
        store.read_bytes(key)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
