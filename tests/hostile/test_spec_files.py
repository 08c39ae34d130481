"""Hostile spec files: a data set's file is read with a safe loader, bounded, and its
schema names pandera's checks only; nothing in it is constructed, imported or called."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from specs import SpecError
from specs.files import read_dataset_file
from tests.hostile.names import imported

WINE = Path(__file__).parents[2] / "docs" / "examples" / "wine" / "wine.yaml"


def _with_schema(tmp_path: Path, schema: object) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(WINE.read_text()), "schema": schema}))
    return path


def test_a_yaml_tag_is_never_constructed(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(SpecError, match="not YAML"):
        read_dataset_file(path)


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"#" * 2_000_000)
    with pytest.raises(SpecError, match="over the 1000000"):
        read_dataset_file(path)



@pytest.mark.parametrize(
    "check", ["__init__", "__class__", "__subclasses__", "mro", "Check", "register_builtin_check_fn", "from_builtin_check_name"]
)
def test_a_schema_calls_no_attribute_of_pandera_but_a_check(tmp_path: Path, check: str) -> None:
    path = _with_schema(tmp_path, {"columns": {"alcohol": {"dtype": "float64", "checks": {check: 1}}}})
    with pytest.raises(SpecError, match=f"schema.columns.alcohol.checks: {check!r} is not a pandera check"):
        read_dataset_file(path)
    assert imported() == []


@pytest.mark.parametrize("dtype", ["os.system", "builtins.eval", "object", "__import__('os')"])
def test_a_schema_dtype_names_no_python_object(tmp_path: Path, dtype: str) -> None:
    path = _with_schema(tmp_path, {"columns": {"alcohol": {"dtype": dtype}}, "coerce": True})
    try:
        read_dataset_file(path)
    except SpecError:
        pass
    assert imported() == []


def test_a_check_name_hidden_in_options_is_refused_too(tmp_path: Path) -> None:
    schema = {"columns": {"alcohol": {"dtype": "float64", "checks": [{"value": 1, "options": {"check_name": "mro"}}]}}}
    with pytest.raises(SpecError, match="'mro' is not a pandera check"):
        read_dataset_file(_with_schema(tmp_path, schema))


@pytest.mark.parametrize(
    "text",
    [
        "name: &a [*a]\n",  # a document nested into itself
        "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: &d [*c, *c]\nname: [*d, *d]\n",  # fan-out
    ],
)
def test_a_yaml_alias_is_refused_before_anything_walks_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match="aliases"):
        read_dataset_file(path)


@pytest.mark.parametrize(
    "checks",
    [[{"value": 1, "options": "x"}], [{"value": 1, "options": {"check_name": ["a"]}}], [None, 3]],
)
def test_malformed_checks_are_a_schema_error_naming_the_field(tmp_path: Path, checks: object) -> None:
    path = _with_schema(tmp_path, {"columns": {"alcohol": {"dtype": "float64", "checks": checks}}})
    with pytest.raises(SpecError, match="schema"):
        read_dataset_file(path)
