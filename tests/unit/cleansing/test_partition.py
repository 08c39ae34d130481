import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cleansing.dedup import KnownIds
from cleansing.hashing import ids_to_raw
from cleansing.partition import cleanse_partition, cross_partition_duplicates, move_duplicates
from cleansing.schemas import load_schema

IrisMeasurements = load_schema("cleansing.schemas:IrisMeasurements")

FIXTURES = Path(__file__).parents[2] / "fixtures"


def _raw_parquet(repeats: int = 3) -> bytes:
    frame = pd.read_csv(FIXTURES / "iris_messy.csv", dtype="str", keep_default_na=False)
    frame = pd.concat([frame] * repeats, ignore_index=True)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, row_group_size=5)
    return buffer.getvalue()


@pytest.mark.parametrize("chunk_rows", [1, 4, 13, 1000])
def test_chunk_size_does_not_change_the_outcome(tmp_path: Path, chunk_rows: int) -> None:
    out = tmp_path / str(chunk_rows)
    out.mkdir()
    result = cleanse_partition(
        io.BytesIO(_raw_parquet()),
        IrisMeasurements,
        source="b1",
        out_folder=out,
        chunk_rows=chunk_rows,
    )
    report = result.report
    assert (report.rows_in, report.clean, report.quarantined, report.duplicates) == (39, 6, 15, 18)
    clean = pd.read_parquet(result.files["clean"])
    assert clean["item_id"].is_unique and len(clean) == 6
    assert (ids_to_raw(clean["item_id"]) == result.clean_ids).all()
    quarantine = pd.read_parquet(result.files["quarantine"])
    assert sorted(quarantine["source_row"]) == sorted(
        r + 13 * k for r in (4, 5, 7, 8, 10) for k in range(3)
    )


def test_known_ids_are_not_modified_and_count_as_already_clean(tmp_path: Path) -> None:
    first = cleanse_partition(
        io.BytesIO(_raw_parquet(1)), IrisMeasurements, source="a", out_folder=tmp_path
    )
    known = KnownIds(first.clean_ids)
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = cleanse_partition(
        io.BytesIO(_raw_parquet(1)),
        IrisMeasurements,
        source="b",
        out_folder=second_dir,
        known=known,
    )
    assert second.report.clean == 0
    assert second.report.duplicates_by_reason == {"already_clean": 8}
    assert len(known) == 6
    assert "clean" not in second.files  # nothing to write


def test_cross_partition_duplicates_mark_later_partitions_only() -> None:
    ids = [
        np.array([b"a" * 16, b"b" * 16], dtype="S16"),
        np.array([b"b" * 16, b"c" * 16], dtype="S16"),
    ]
    masks = cross_partition_duplicates([*ids, np.array([b"a" * 16], dtype="S16")])
    assert [m.tolist() for m in masks] == [[False, False], [True, False], [True]]
    assert cross_partition_duplicates([]) == []


def test_move_duplicates_keeps_every_row() -> None:
    clean = pd.DataFrame({"item_id": ["x", "y", "z"], "v": [1, 2, 3]})
    kept, moved = move_duplicates(clean, np.array([False, True, False]))
    assert kept["item_id"].tolist() == ["x", "z"]
    assert moved[["item_id", "duplicate_reason"]].values.tolist() == [["y", "duplicate_in_run"]]


def test_a_raw_batch_wider_than_collects_default_limit_is_cleansed(tmp_path: Path) -> None:
    """Raw batches are collect's own files: a source taken with a raised max_columns
    cleanses, and the columns no schema names pass through as read."""
    frame = pd.read_csv(FIXTURES / "iris_messy.csv", dtype="str", keep_default_na=False)
    extras = pd.DataFrame({f"extra_{i}": [" x "] * len(frame) for i in range(1_200)})
    buffer = io.BytesIO()
    pd.concat([frame, extras], axis=1).to_parquet(buffer, index=False)
    result = cleanse_partition(
        io.BytesIO(buffer.getvalue()), IrisMeasurements, source="wide", out_folder=tmp_path
    )
    assert (
        result.report.rows_in
        == len(frame)
        == result.report.clean + result.report.quarantined + result.report.duplicates
    )
    clean = pd.read_parquet(result.files["clean"])
    assert (clean["extra_0"] == " x ").all()
