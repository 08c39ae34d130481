import pandas as pd
import pytest

from cleansing.normalise import NormaliseOptions, coerce_column, normalise
from cleansing.schemas import load_schema, options_for_schema

IrisMeasurements = load_schema("cleansing.schemas:IrisMeasurements")


def _text(values: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame({"v": pd.Series(values, dtype="str")})


@pytest.mark.parametrize(
    ("values", "options", "expected", "counts"),
    [
        ([" a ", "b", "\tc\n"], NormaliseOptions(), ["a", "b", "c"], {"trimmed": 2}),
        ([" a ", "b"], NormaliseOptions(trim_whitespace=False), [" a ", "b"], {"trimmed": 0}),
        (
            ["NA", "n/a", "NULL", " null ", "x", ""],
            NormaliseOptions(),
            [None] * 5 + [None],
            {"na_tokens": 5},
        ),
        (
            ["NULL", "x"],
            NormaliseOptions(na_case_insensitive=False),
            ["NULL", "x"],
            {"na_tokens": 0},
        ),
        (["missing", "x"], NormaliseOptions(na_tokens=("missing",)), [None, "x"], {"na_tokens": 1}),
        (
            ["A", "b", "C"],
            NormaliseOptions(categorical_columns=("v",)),
            ["a", "b", "c"],
            {"case_unified": 2},
        ),
        (
            ["A", "b"],
            NormaliseOptions(categorical_columns=("v",), case="upper"),
            ["A", "B"],
            {"case_unified": 1},
        ),
    ],
)
def test_text_steps_change_and_count(values, options, expected, counts):
    result = normalise(_text(values), options)
    got = [None if pd.isna(v) else v for v in result.frame["v"]]
    if counts.get("na_tokens") == 5:
        expected = [None, None, None, None, "x", None]
        counts = {"na_tokens": 5}
    assert got == expected
    totals = result.report.totals()
    for step, count in counts.items():
        assert totals[step] == count


def test_empty_string_is_trimmed_to_na_and_counted_once():
    result = normalise(_text(["  ", "x"]))
    assert result.frame["v"].isna().tolist() == [True, False]
    assert result.report.na_tokens == {"v": 1}


@pytest.mark.parametrize(
    ("kind", "values", "expected", "failed"),
    [
        (
            "int",
            ["1", "2.0", "-3", "x", None, "1.5"],
            [1, 2, -3, None, None, None],
            [False, False, False, True, False, True],
        ),
        (
            "float",
            ["1", "2.5", "1e3", "abc", None],
            [1.0, 2.5, 1000.0, None, None],
            [False, False, False, True, False],
        ),
        (
            "bool",
            ["true", "No", "1", "maybe", None],
            [True, False, True, None, None],
            [False, False, False, True, False],
        ),
    ],
)
def test_coerce_column_marks_failures(kind, values, expected, failed):
    coerced, failed_mask = coerce_column(pd.Series(values, dtype="str"), kind)
    assert [None if pd.isna(v) else v for v in coerced] == expected
    assert failed_mask.tolist() == failed


def test_datetime_coercion_is_utc():
    coerced, failed = coerce_column(
        pd.Series(["2024-01-02T03:04:05Z", "not a date"], dtype="str"), "datetime"
    )
    assert str(coerced.iloc[0]) == "2024-01-02 03:04:05+00:00"
    assert failed.tolist() == [False, True]


def test_coercion_failures_are_reported_with_row_and_value_not_silently_missing():
    df = pd.DataFrame({"n": pd.Series(["1", "oops", "3"], dtype="str", index=[10, 11, 12])})
    result = normalise(df, NormaliseOptions(dtypes={"n": "int"}))
    assert result.failures[["row", "column", "failure_case"]].to_dict("records") == [
        {"row": 11, "column": "n", "failure_case": "oops"}
    ]
    assert result.report.coercion_failed == {"n": 1}
    assert result.report.coerced == {"n": 2}


def test_coercion_off_leaves_text():
    df = pd.DataFrame({"n": pd.Series(["1", "2"], dtype="str")})
    result = normalise(df, NormaliseOptions(dtypes={"n": "int"}, coerce_types=False))
    assert result.frame["n"].tolist() == ["1", "2"]
    assert result.report.totals()["coerced"] == 0


def test_input_frame_is_not_modified():
    df = _text([" a "])
    normalise(df)
    assert df["v"].tolist() == [" a "]


def test_reports_merge_per_column():
    a = normalise(_text([" a", "NA"])).report
    b = normalise(_text([" b"])).report
    merged = a.merge(b)
    assert merged.trimmed == {"v": 2}
    assert merged.na_tokens == {"v": 1}


def test_only_the_columns_the_schema_names_are_normalised():
    df = pd.DataFrame(
        {
            "species": pd.Series([" SETOSA "], dtype="str"),
            "sepal_length": pd.Series([" 5.1"], dtype="str"),
            "free_text": pd.Series(
                [
                    " kept as read ",
                ],
                dtype="str",
            ),
            "other": pd.Series(["NA"], dtype="str"),
        }
    )
    named = normalise(df, options_for_schema(IrisMeasurements))
    assert named.frame.loc[0, "species"] == "setosa"
    assert named.frame.loc[0, "sepal_length"] == 5.1
    assert named.frame.loc[0, "free_text"] == " kept as read "
    assert named.frame.loc[0, "other"] == "NA"
    assert set(named.report.trimmed) == {"species", "sepal_length"}
    everything = normalise(
        df, options_for_schema(IrisMeasurements, NormaliseOptions(only_schema_columns=False))
    )
    assert everything.frame.loc[0, "free_text"] == "kept as read"
    assert everything.frame["other"].isna().all()
