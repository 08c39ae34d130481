from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest

from cleansing.dedup import KnownIds
from cleansing.errors import (
    BatchValidationError,
    CountingRuleError,
    MissingColumnError,
    SchemaLoadError,
)
from cleansing.normalise import NormaliseOptions
from cleansing.pipeline import BatchReport, cleanse_chunks, cleanse_frame
from cleansing.schemas import load_schema
from cleansing.validate import validate_split

DigitImages = load_schema("cleansing.schemas:DigitImages")
IrisMeasurements = load_schema("cleansing.schemas:IrisMeasurements")
TextSnippets = load_schema("cleansing.schemas:TextSnippets")

FIXTURES = Path(__file__).parents[2] / "fixtures"


def _iris() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "iris_messy.csv", dtype="str", keep_default_na=False)


def test_messy_iris_splits_into_clean_quarantine_duplicates():
    result = cleanse_frame(_iris(), IrisMeasurements, source="iris_messy.csv")
    report = result.report
    assert (report.rows_in, report.clean, report.quarantined, report.duplicates) == (13, 6, 5, 2)
    assert result.clean["species"].tolist() == ["setosa"] * 3 + [
        "versicolor",
        "virginica",
        "virginica",
    ]
    quarantined = result.quarantined.set_index("source_row")
    assert quarantined.loc[4, "quarantine_check"] == "not_nullable"
    assert quarantined.loc[5, "quarantine_check"] == "coerce_dtype('float')"
    assert quarantined.loc[5, "sepal_length"] == "abc"  # as it arrived
    assert quarantined.loc[7, "quarantine_check"] == "greater_than(0)"
    assert quarantined.loc[8, "quarantine_column"] == "species"
    assert quarantined.loc[10, "quarantine_column"] == "sepal_width"
    # row 12 equals row 11 once "Virginica" is lower-cased
    assert result.duplicates["source_row"].tolist() == [3, 12]
    assert result.duplicates["duplicate_reason"].tolist() == ["duplicate_in_batch"] * 2
    assert report.normalise.case_unified == {"species": 3}
    assert report.normalise.na_tokens == {"sepal_length": 1, "sepal_width": 1}
    assert report.quarantined_by_check["sepal_length: not_nullable"] == 1


def test_case_unification_off_quarantines_mixed_case_and_changes_ids():
    options = NormaliseOptions(categorical_columns=("sepal_length",))  # species not unified
    result = cleanse_frame(_iris(), IrisMeasurements, source="f", options=options)
    assert (
        result.report.quarantined_by_check.get(
            "species: isin(['setosa', 'versicolor', 'virginica'])", 0
        )
        >= 3
    )


def test_dedup_across_chunks_and_against_known_ids():
    df = _iris()
    first = cleanse_frame(df, IrisMeasurements, source="a")
    known = KnownIds(first.clean["item_id"])
    again = list(
        cleanse_chunks([df.iloc[:6], df.iloc[6:]], IrisMeasurements, source="b", known=known)
    )
    assert sum(r.report.clean for r in again) == 0
    reasons = pd.concat([r.duplicates for r in again])["duplicate_reason"].value_counts().to_dict()
    assert reasons == {"already_clean": 8}
    assert [r.report.rows_in for r in again] == [6, 7]
    assert again[1].quarantined["source_row"].min() >= 6


def test_item_id_same_for_same_content_in_different_files():
    df = _iris()
    a = cleanse_frame(df, IrisMeasurements, source="a").clean
    b = cleanse_frame(df.iloc[::-1], IrisMeasurements, source="b").clean
    assert set(a["item_id"]) == set(b["item_id"])


@pytest.mark.parametrize("column", ["species", "petal_width"])
def test_missing_required_column_fails_batch_naming_column_and_file(column):
    with pytest.raises(MissingColumnError, match=f"iris.csv: required column '{column}'"):
        cleanse_frame(_iris().drop(columns=[column]), IrisMeasurements, source="iris.csv")


def test_optional_column_may_be_absent_and_is_checked_when_present():
    digits = pd.DataFrame(
        {"key": ["a.png", "b.png"], "size": ["10", "0"], "checksum": ["a" * 64, "b" * 64]}
    )
    result = cleanse_frame(digits, DigitImages, source="d")
    assert result.report.clean == 1
    assert result.quarantined["quarantine_check"].tolist() == ["greater_than(0)"]
    labelled = digits.assign(size="10", label=["3", "12"])
    result = cleanse_frame(labelled, DigitImages, source="d")
    assert result.quarantined["quarantine_column"].tolist() == ["label"]


def test_text_schema_checks_language_and_empty_text():
    texts = pd.DataFrame(
        {
            "text": ["  hello ", "", "bonjour", "hallo"],
            "lang": ["EN", "en", "fr", "xx"],
            "label": ["a", "b", None, "c"],
        }
    )
    result = cleanse_frame(texts, TextSnippets, source="t.jsonl")
    assert result.clean["text"].tolist() == ["hello", "bonjour"]
    assert sorted(result.quarantined["quarantine_column"]) == ["lang", "text"]


def test_check_raising_on_whole_frame_fails_batch():
    class Broken(pa.DataFrameModel):
        a: int

        @pa.dataframe_check
        def explode(cls, df: pd.DataFrame) -> bool:
            raise RuntimeError("boom")

    with pytest.raises(BatchValidationError, match="batch.parquet"):
        validate_split(pd.DataFrame({"a": [1, 2]}), Broken.to_schema(), source="batch.parquet")


def test_report_counting_rule_is_enforced():
    report = BatchReport(source="x", rows_in=3, clean=1, quarantined=1, duplicates=0)
    with pytest.raises(CountingRuleError, match="x"):
        report.check()


@pytest.mark.parametrize(
    "path",
    [
        "cleansing.schemas:IrisMeasurements",
        "cleansing.schemas.TextSnippets",
        "cleansing.schemas:DigitImages",
    ],
)
def test_load_schema(path):
    assert load_schema(path).name == path.replace(":", ".").rsplit(".", 1)[1]


@pytest.mark.parametrize(
    "path", ["cleansing.schemas:Nope", "no.such.module:X", "cleansing.schemas:load_schema", "x"]
)

def test_load_schema_errors_name_path(path):
    with pytest.raises(SchemaLoadError, match="schema path"):
        load_schema(path)


