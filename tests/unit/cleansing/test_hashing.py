import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cleansing.hashing import (
    content_hash,
    hex_ids,
    ids_to_raw,
    reference_row_digest,
    reference_text_digest,
    row_digests,
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "n": pd.array([1, 2, None], dtype="Int64"),
            "s": pd.Series(["x", None, "é|="], dtype="str"),
            "f": [0.1, -0.0, np.nan],
            "b": pd.array([True, False, None], dtype="boolean"),
        }
    )


@pytest.mark.parametrize(
    "text", ["", "a", "abcdefgh", "abcdefghi", "é" * 100, "x\x1fy", "\x00", "\x00" * 8]
)
def test_vectorised_digest_matches_reference_definition(text):
    df = pd.DataFrame(
        {
            "t": pd.Series([text, "pad", None], dtype="str"),
            "n": pd.array([1, None, -5], dtype="Int64"),
        }
    )
    raw = row_digests(df, ["t", "n"])
    for i in range(3):
        row = {"t": df["t"].iloc[i], "n": df["n"].iloc[i]}
        assert raw.tobytes()[16 * i : 16 * (i + 1)] == reference_row_digest(row)


def test_reference_covers_floats_bools_datetimes():
    df = _frame().assign(
        when=pd.to_datetime(["2024-01-01T00:00:00Z", None, "1999-12-31T23:00:00-01:00"], utc=True)
    )
    raw = row_digests(df, list(df.columns))
    for i in range(3):
        row = {c: df[c].iloc[i] for c in df.columns}
        assert raw.tobytes()[16 * i : 16 * (i + 1)] == reference_row_digest(row)


def test_empty_text_and_eight_zero_bytes_differ():
    assert reference_text_digest(b"") != reference_text_digest(b"\0" * 8)


def test_ids_are_32_hex_and_distinct():
    ids = content_hash(_frame(), ["n", "s", "f", "b"])
    assert ids.str.fullmatch(r"[0-9a-f]{32}").all()
    assert ids.nunique() == 3


def test_id_independent_of_column_order_index_and_other_columns():
    df = _frame()
    shuffled = df[["b", "f", "s", "n"]].iloc[::-1].set_index(pd.Index([7, 8, 9]))
    shuffled["extra"] = "provenance"
    a = content_hash(df, ["n", "s", "f", "b"]).tolist()
    b = content_hash(shuffled, ["s", "n", "b", "f"]).tolist()[::-1]
    assert a == b


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"a": ["ab"], "b": ["c"]}, {"a": ["a"], "b": ["bc"]}),  # no ambiguity across columns
        ({"a": [None]}, {"a": [""]}),  # missing != empty text
        ({"a": [None]}, {"a": ["n"]}),
    ],
)
def test_different_content_gives_different_ids(left, right):
    lf = pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in left.items()})
    rf = pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in right.items()})
    assert content_hash(lf, list(left)).iloc[0] != content_hash(rf, list(right)).iloc[0]


def test_negative_zero_and_zero_share_an_id_nan_is_missing():
    df = pd.DataFrame({"f": [0.0, -0.0, np.nan, None]})
    ids = content_hash(df, ["f"]).tolist()
    assert ids[0] == ids[1]
    assert ids[2] == ids[3]


def test_known_id_value_is_pinned():
    # The definition must never change silently: every stored item_id depends on it.
    df = pd.DataFrame({"a": pd.array([1], dtype="Int64"), "b": pd.Series(["x"], dtype="str")})
    assert content_hash(df, ["a", "b"]).iloc[0] == reference_row_digest({"a": 1, "b": "x"}).hex()
    assert len(content_hash(df, ["a", "b"]).iloc[0]) == 32


def test_ids_are_stable_across_processes():
    code = (
        "import pandas as pd;from cleansing.hashing import content_hash;"
        "print(content_hash(pd.DataFrame({'a':[1,2],'b':['x','y']}),['a','b']).tolist())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    here = str(content_hash(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), ["a", "b"]).tolist())
    assert outputs == {here + "\n"}


def test_hex_round_trip():
    raw = row_digests(pd.DataFrame({"a": ["a", "b", "c"]}), ["a"])
    assert (ids_to_raw(hex_ids(raw)) == raw).all()


@pytest.mark.parametrize("bad", ["xyz", "0" * 31, 5])
def test_ids_to_raw_names_bad_id(bad):
    with pytest.raises(ValueError, match="item_id"):
        ids_to_raw(["0" * 32, bad])


def test_missing_content_column_is_named():
    with pytest.raises(KeyError, match="nope"):
        content_hash(_frame(), ["n", "nope"])
