"""Data set specs: shipped ones are consistent, user ones load by import path."""

from __future__ import annotations

import pytest

from annotation.config import DataKind, LabelSpec, build_label_config
from learning.pipelines import FeatureSpec
from specs import SHIPPED, DatasetSpec, SpecError, load_spec

MY_SPEC = DatasetSpec(
    name="reviews",
    schema_path="cleansing.schemas.TextSnippets",
    labels=LabelSpec(kind=DataKind.TEXT, labels=["good", "bad"]),
    features=FeatureSpec(modality="text", text_column="text"),
    value_column="text",
)
NOT_A_SPEC = {"name": "x"}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_specs_make_a_valid_label_config(name: str) -> None:
    spec = load_spec(name)
    config = build_label_config(spec.labels)
    assert list(config.labels) == spec.labels.labels
    assert spec.name == name


def test_user_spec_by_import_path() -> None:
    assert load_spec("tests.unit.specs.test_specs:MY_SPEC") is MY_SPEC


@pytest.mark.parametrize(
    ("ask", "message"),
    [
        ("nope", "unknown data set 'nope'"),
        ("tests.unit.specs.test_specs:MISSING", "cannot load"),
        ("tests.unit.specs.test_specs:NOT_A_SPEC", "not a DatasetSpec"),
    ],
)
def test_bad_names_say_what_exists(ask: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(ask)


def test_label_kind_and_modality_must_agree() -> None:
    with pytest.raises(ValueError, match="labels.kind is image but features.modality is text"):
        DatasetSpec(
            name="x",
            schema_path="a.b",
            labels=LabelSpec(kind=DataKind.IMAGE, labels=["a"]),
            features=FeatureSpec(modality="text", text_column="t"),
            value_column="t",
        )

