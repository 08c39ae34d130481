import numpy as np
import pandas as pd
import pytest

from cleansing.counting import check_counts
from cleansing.dedup import KnownIds, dedup
from cleansing.errors import CountingRuleError


def _ids(*chars: str) -> list[str]:
    return [c * 32 for c in chars]


@pytest.mark.parametrize(
    ("batch", "known", "unique", "reasons"),
    [
        ("abc", "", "abc", []),
        ("aab", "", "ab", ["duplicate_in_batch"]),
        ("abc", "b", "ac", ["already_clean"]),
        ("abba", "a", "b", ["already_clean", "duplicate_in_batch", "already_clean"]),
    ],
)
def test_dedup_keeps_first_and_returns_duplicates_with_reason(batch, known, unique, reasons):
    df = pd.DataFrame({"item_id": _ids(*batch), "x": range(len(batch))})
    result = dedup(df, _ids(*known))
    assert result.unique["item_id"].tolist() == _ids(*unique)
    assert result.duplicates["duplicate_reason"].tolist() == reasons
    assert len(result.unique) + len(result.duplicates) == len(df)


def test_known_ids_grows_and_finds_across_segments():
    rng = np.random.default_rng(1)
    chunks = [[f"{v:032x}" for v in rng.integers(0, 2**62, size)] for size in (5, 50, 3, 200)]
    known = KnownIds()
    for chunk in chunks:
        known.add(chunk)
    everything = [i for chunk in chunks for i in chunk]
    assert known.contains(everything).all()
    assert not known.contains(["f" * 32, "e" * 32]).any()
    assert len(known) == len(set(everything))


def test_dedup_needs_id_column():
    with pytest.raises(KeyError, match="item_id"):
        dedup(pd.DataFrame({"x": [1]}))


@pytest.mark.parametrize(
    ("raw", "clean", "quarantined", "duplicates"), [(10, 7, 2, 1), (0, 0, 0, 0)]
)
def test_counting_rule_holds(raw, clean, quarantined, duplicates):
    check_counts(raw=raw, clean=clean, quarantined=quarantined, duplicates=duplicates, batch="b1")


@pytest.mark.parametrize(
    ("raw", "clean", "quarantined", "duplicates"), [(10, 7, 2, 0), (10, 8, 2, 1), (1, 2, 0, -1)]
)
def test_counting_rule_breaks_loudly_naming_batch(raw, clean, quarantined, duplicates):
    with pytest.raises(CountingRuleError, match="b1"):
        check_counts(
            raw=raw, clean=clean, quarantined=quarantined, duplicates=duplicates, batch="b1"
        )


def test_ids_sharing_high_half_are_told_apart():
    ids = [
        "0" * 16 + "1" * 16,
        "0" * 16 + "2" * 16,
        "0" * 16 + "1" * 16,
        "0" * 16 + "3" * 16,
        "f" * 32,
    ]
    result = dedup(pd.DataFrame({"item_id": ids}), ["0" * 16 + "3" * 16])
    assert result.unique["item_id"].tolist() == ids[:2] + ids[4:]
    assert result.duplicates["duplicate_reason"].tolist() == ["duplicate_in_batch", "already_clean"]
    known = KnownIds(ids)
    assert len(known) == 4
    assert known.contains(["0" * 16 + "2" * 16, "0" * 16 + "4" * 16]).tolist() == [True, False]
