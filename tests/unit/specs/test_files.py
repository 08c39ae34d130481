"""Spec files: what a user writes, parsed and checked before anything is registered."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from annotation.config import DataKind, LabelSpec, adoption_problems, build_label_config, parse_label_config
from cleansing.schemas import load_schema
from collection.sources import LocalSource
from specs import SpecError
from specs.files import landing_problems, read_dataset_file

EXAMPLES = Path(__file__).parents[3] / "docs" / "examples"


def _write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _wine() -> dict:
    return yaml.safe_load((EXAMPLES / "wine" / "wine.yaml").read_text())


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*/*.yaml")), ids=lambda p: p.name)
def test_every_example_of_the_guide_parses(path: Path) -> None:
    declared = read_dataset_file(path)
    schema = load_schema(declared.spec.schema_ref)
    assert declared.spec.value_column in schema.columns


def test_the_schema_is_pandera_yaml_with_its_metadata(tmp_path: Path) -> None:
    declared = read_dataset_file(_write(tmp_path, _wine()))
    schema = load_schema(declared.spec.schema_ref)
    assert schema.coerce
    assert schema.metadata["id_columns"][0] == "alcohol"
    assert [c.name for c in schema.columns["alcohol"].checks] == ["in_range"]


def test_a_relative_landing_path_is_taken_from_the_files_folder(tmp_path: Path) -> None:
    declared = read_dataset_file(_write(tmp_path, _wine()))
    assert declared.landing == [LocalSource(path=str(tmp_path / "landing" / "*.csv"))]
    assert landing_problems(declared.landing) == [
        f"landing path {str(tmp_path / 'landing' / '*.csv')!r}: folder "
        f"{str(tmp_path / 'landing')!r} does not exist"
    ]
    (tmp_path / "landing").mkdir()
    assert landing_problems(declared.landing) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": {"columns": {"alcohol": {"dtype": "nosuchtype"}}}}, "schema: .*nosuchtype"),
        ({"schema": {"columns": {"alcohol": {"dtype": "float64", "checks": {"no_such": 1}}}}}, "schema: .*no_such"),
        ({"schema": "columns: x"}, "schema: a mapping"),
        ({"value_column": "colour"}, "value_column: .*'colour'.* not in the schema"),
        ({"features": {"modality": "tabular", "numeric_columns": ["alcohol", "acidity"]}}, "numeric_columns: .*'acidity'"),
        ({"labels": {"kind": "text", "labels": ["a"]}}, "labels.kind is text but features.modality is tabular"),
        ({"labels": {"kind": "tabular", "labels": ["a", "a"]}}, "labels.labels: .*duplicated"),
        ({"name": "My_Wine"}, "name: String should match pattern"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"landing": [{"kind": "ftp", "path": "x"}]}, "landing"),
    ],
)
def test_a_bad_field_is_named(tmp_path: Path, change: dict, message: str) -> None:
    path = _write(tmp_path, {**_wine(), **change})
    with pytest.raises(SpecError, match=message) as caught:
        read_dataset_file(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("text", ["- a list", "{{{", "just text"])
def test_a_file_that_is_no_mapping_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=str(path)):
        read_dataset_file(path)


def test_a_project_generated_from_the_spec_can_be_adopted() -> None:
    spec = LabelSpec(kind=DataKind.TEXT, labels=["pos", "neg"])
    assert adoption_problems(spec, build_label_config(spec)) == []


def test_an_adopted_projects_differences_are_each_named() -> None:
    xml = """<View><Text name="review" value="$body"/>
      <Choices name="sentiment" toName="review"><Choice value="pos"/><Choice value="meh"/></Choices></View>"""
    problems = adoption_problems(
        LabelSpec(kind=DataKind.TEXT, labels=["pos", "neg"]), parse_label_config(xml)
    )
    assert len(problems) == 4
    assert "set labels.control_name: sentiment" in problems[0]
    assert "set labels.object_name: review" in problems[1]
    assert "set labels.data_key: body" in problems[2]
    assert "only in the project: ['meh']; only in the spec: ['neg']" in problems[3]


def test_a_landing_folder_without_a_glob_must_exist_itself(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    assert landing_problems([LocalSource(path=str(tmp_path / "landing" / "wine"))]) == [
        f"landing path {str(tmp_path / 'landing' / 'wine')!r}: folder "
        f"{str(tmp_path / 'landing' / 'wine')!r} does not exist"
    ]
    assert landing_problems([LocalSource(path=str(tmp_path / "landing" / "one.csv"))]) == []
