import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cleansing.hashing import canonical_rows, content_hash, digests, hex_ids, ids_to_raw, reference_digest


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
    "row", ["", "a", "abcdefgh", "abcdefghi", "é" * 100, "x\x1fy", "\x00", "\x00" * 8]
)
def test_vectorised_digest_matches_reference_definition(row):
    raw = digests(pa.array([row, "pad"]))
    assert raw.tobytes()[:16] == reference_digest(row.encode())


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


def test_canonical_serialisation_is_documented_form():
    rows = canonical_rows(_frame(), ["s", "n"]).to_pylist()
    assert rows[0] == "n=i1\x1fs=s1:x"
    assert rows[1] == "n=i2\x1fs=n"
    assert rows[2] == "n=n\x1fs=s4:é|="


def test_ids_are_stable_across_processes():
    code = (
        "import pandas as pd;from cleansing.hashing import content_hash;"
        "print(content_hash(pd.DataFrame({'a':[1,2],'b':['x','y']}),['a','b']).tolist())"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    here = str(content_hash(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), ["a", "b"]).tolist())
    assert outputs == {here + "\n"}


def test_hex_round_trip():
    raw = digests(pa.array(["a", "b", "c"]))
    assert (ids_to_raw(hex_ids(raw)) == raw).all()


@pytest.mark.parametrize("bad", ["xyz", "0" * 31, 5])
def test_ids_to_raw_names_bad_id(bad):
    with pytest.raises(ValueError, match="item_id"):
        ids_to_raw(["0" * 32, bad])


def test_missing_content_column_is_named():
    with pytest.raises(KeyError, match="nope"):
        content_hash(_frame(), ["n", "nope"])
