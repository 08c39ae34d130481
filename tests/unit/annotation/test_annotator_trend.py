"""Each annotator's estimate over recent labels versions, from the versions' stored columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from annotation.versions import annotator_accuracy, annotator_trends, spark
from blocks import DataStore
from storage.layout import labels_key, version_of_labels_key
from tasks.state import read_earlier_versions


def _version(rows: list[tuple[str | None, dict[str, str]]]) -> pd.DataFrame:
    """A labels version as read back from parquet: (label, votes) per item."""
    return pd.DataFrame(
        {
            "item_id": [f"i{n}" for n in range(len(rows))],
            "label": [label for label, _ in rows],
            "status": ["resolved" if label else "unresolved" for label, _ in rows],
            "vote_annotators": [np.array(sorted(votes), dtype=object) for _, votes in rows],
            "vote_labels": [
                np.array([votes[a] for a in sorted(votes)], dtype=object) for _, votes in rows
            ],
        }
    )


def test_an_annotator_s_accuracy_counts_only_labelled_items() -> None:
    frame = _version(
        [
            ("cat", {"ann": "cat", "bob": "cat"}),
            ("dog", {"ann": "dog", "bob": "cat"}),
            ("dog", {"ann": "cat", "bob": "cat", "cy": "dog"}),
            (None, {"ann": "cat", "bob": "dog"}),  # unresolved: judges nobody
        ]
    )
    assert annotator_accuracy(frame) == pytest.approx({"ann": 2 / 3, "bob": 1 / 3, "cy": 1.0})


def test_a_version_without_recorded_voters_estimates_nobody() -> None:
    old = pd.DataFrame({"item_id": ["a"], "label": ["cat"], "status": ["resolved"]})
    assert annotator_accuracy(old) == {}
    nan_votes = old.assign(vote_annotators=[np.nan], vote_labels=[np.nan])
    assert annotator_accuracy(nan_votes) == {}


@pytest.mark.parametrize(
    ("value", "char"),
    [(None, "·"), (float("nan"), "·"), (0.0, "▁"), (0.5, "▁"), (0.7, "▄"), (0.9, "▇"), (1.0, "█")],
)
def test_a_spark_is_low_at_a_coin_flip_and_full_at_one(value: float | None, char: str) -> None:
    assert spark(value) == char


def test_a_falling_annotator_reads_as_a_falling_line() -> None:
    history = [{"ann": 0.97, "bob": 0.95}, {"ann": 0.96, "bob": 0.85}]
    trends = annotator_trends(history, {"ann": 0.97, "bob": 0.7, "new": 0.9, "skips": None})
    assert trends["ann"] == "███ 0.97 0.96 0.97"
    assert trends["bob"] == "█▆▄ 0.95 0.85 0.70"
    assert trends["new"] == "··▇ - - 0.90"  # joined in this version
    assert trends["skips"] == "··· - - -"  # only skips: no estimate anywhere
    assert annotator_trends([], {"ann": 0.9}) == {"ann": "▇ 0.90"}


def test_only_the_versions_themselves_count_as_versions() -> None:
    assert version_of_labels_key("p", "labels/p/20261201T000000Z-a.parquet") == (
        "20261201T000000Z-a"
    )
    for key in ("labels/p/latest.json", "labels/p/disputed/v1.parquet", "labels/q/v1.parquet"):
        assert version_of_labels_key("p", key) is None


def test_the_newest_earlier_versions_are_read_oldest_first(tmp_path: Path) -> None:
    store = DataStore(base_path=str(tmp_path))
    frame = _version([("cat", {"ann": "cat"})]).assign(extra=[1])
    for version in ("v1", "v2", "v3", "v4"):
        store.write_parquet(labels_key("p", version), frame)
    store.write_parquet("labels/p/disputed/v3.parquet", frame)
    store.replace_json("labels/p/latest.json", {"version": "v4"})
    read = read_earlier_versions.fn(store, "p", "v4", 2)
    assert [v for v, _ in read] == ["v2", "v3"]
    assert "extra" not in read[0][1].columns
    assert annotator_accuracy(read[0][1]) == {"ann": 1.0}
    assert [v for v, _ in read_earlier_versions.fn(store, "p", None, 10)] == ["v1", "v2", "v3", "v4"]
    assert read_earlier_versions.fn(store, "p", "v4", 0) == []
