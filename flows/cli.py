"""The command line of every flow file, generated from its `*Params` model.

    python flows/train.py --help

Each field becomes a flag named after it (`chunk_rows` -> `--chunk-rows`), its help the
field's description and default; the fields of a nested model that always has a value
become flags of their own (`gate.min_improvement` -> `--gate-min-improvement`). A bool
field takes `--flag` (true), `--flag false` or `--no-flag`; a list of plain values
repeats its flag; any other field (a union with a model, a list of models, a mapping)
takes JSON, or a plain string where the field accepts one (`--dataset digits`). The
flags a user gives are assembled into the model's data and validated by the model
itself, so the command line rejects what the Prefect UI's form rejects.

A flow keeps shorter flags users already know as `Shortcut`s beside the generated ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from specs import load_spec

P = TypeVar("P", bound=BaseModel)

_DEST = "field:"  # argparse dest of a generated flag: "field:" + dotted field path
_SHORTCUT = "shortcut:"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_SCALARS = (str, int, float)


@dataclass(frozen=True)
class Shortcut:
    """A flag kept beside the generated ones that sets a field (dotted path) of the Params.

    Attributes:
        flag: e.g. `--schema`.
        field: the dotted field path it sets (`schema_path`, `gate.metric`); None for a
            flag only other shortcuts' `convert` read.
        help: shown by `--help`.
        value: a fixed value the flag sets (the flag then takes no argument).
        repeatable: the flag may be given several times; each value is appended.
        convert: (value, every shortcut's given value by flag) -> the field's value.
    """

    flag: str
    field: str | None
    help: str
    value: Any = None
    repeatable: bool = False
    convert: Callable[[Any, Mapping[str, Any]], Any] | None = None


def _dataset(text: str, given: Mapping[str, Any]) -> Any:
    """`--dataset`: JSON of a whole spec, or a name or an own spec's import path, loaded."""
    return json.loads(text) if text.lstrip().startswith("{") else load_spec(text)


DATASET = Shortcut(
    "--dataset",
    "dataset",
    "on the command line also an own spec's import path (package.module:SPEC)",
    convert=_dataset,
)
"""The `--dataset` of a flow whose Params take a data set name or spec: an administrator
at the command line may also name an own spec's import path, which the Params refuse."""


def params_parser(
    model: type[BaseModel], description: str | None, shortcuts: Sequence[Shortcut] = ()
) -> argparse.ArgumentParser:
    """An argument parser with one flag per field of `model` (nested models flattened).

    Raises:
        ValueError: a shortcut names a field `model` does not have (names the flag).
    """
    parser = argparse.ArgumentParser(description=description)
    taken = {shortcut.flag for shortcut in shortcuts}
    flat = flat_fields(model)
    for path, field in flat.items():
        if flag_of(path) not in taken:  # a shortcut of the same name replaces the flag
            _add_field(parser, path, field)
    fields = flat_paths(model)
    replaced = {flag_of(path): field for path, field in flat.items()}
    group = parser.add_argument_group("shorter flags")
    for shortcut in shortcuts:
        if shortcut.field is not None and shortcut.field not in fields:
            raise ValueError(f"{shortcut.flag}: {model.__name__} has no field {shortcut.field}")
        field = replaced.get(shortcut.flag)
        prefix = f"{_help(field)} (default: {_default(field)}); " if field else ""
        _add_shortcut(group, shortcut, prefix + shortcut.help)
    return parser


def parse_params(
    model: type[P],
    argv: Sequence[str] | None = None,
    description: str | None = None,
    shortcuts: Sequence[Shortcut] = (),
) -> P:
    """The Params a command line asks for; argparse exits with a usage error otherwise.

    Args:
        model: the flow's Params model.
        argv: the arguments (default: `sys.argv[1:]`).
        description: shown by `--help` (a flow's module docstring's first paragraph).
        shortcuts: flags kept beside the generated ones.
    """
    parser = params_parser(model, description, shortcuts)
    given = vars(parser.parse_args(argv))
    by_flag = {
        s.flag: given[_SHORTCUT + s.flag] for s in shortcuts if _SHORTCUT + s.flag in given
    }
    paths = [d.removeprefix(_DEST) for d in given if d.startswith(_DEST)]
    paths += [s.field for s in shortcuts if s.flag in by_flag and s.field is not None]
    data = _nested_defaults(model, {path.split(".")[0] for path in paths if "." in path})
    for dest, raw in given.items():
        if dest.startswith(_DEST):
            _set(data, dest.removeprefix(_DEST), raw, append=False)
    try:
        for shortcut in shortcuts:
            if shortcut.flag in by_flag and shortcut.field is not None:
                value = _converted(shortcut, by_flag[shortcut.flag], by_flag)
                _set(data, shortcut.field, value, append=shortcut.repeatable)
        return model.model_validate(data)
    except ValueError as error:  # pydantic's ValidationError names every bad field
        parser.error(str(error))


def run_flow_script(
    flow: Callable[[P], BaseModel],
    model: type[P],
    doc: str | None,
    shortcuts: Sequence[Shortcut] = (),
    failed: Callable[[Any], bool] | None = None,
) -> None:
    """Run a flow from its file's command line; print its result as JSON.

    Args:
        flow: the flow, called with the parsed Params.
        model: its Params model.
        doc: the flow module's docstring (its first paragraph describes the command).
        shortcuts: flags kept beside the generated ones.
        failed: whether the result means a failed run (the exit status is then 1).
    """
    params = parse_params(model, sys.argv[1:], _summary(doc), shortcuts)
    result = flow(params)
    sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    sys.exit(1 if failed is not None and failed(result) else 0)


def _nested_defaults(model: type[BaseModel], names: set[str]) -> dict[str, Any]:
    """The defaults of the named nested-model fields, as data: a flag's value then replaces
    one field of the Params' own default (which may differ from the nested class's)."""
    data: dict[str, Any] = {}
    for name in names:
        field = model.model_fields[name]
        if _nested_model(field) is not None and not field.is_required():
            data[name] = field.get_default(call_default_factory=True).model_dump()
    return data


def _summary(doc: str | None) -> str:
    """A module docstring's first paragraph, on one line."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def flat_fields(model: type[BaseModel], prefix: str = "") -> dict[str, FieldInfo]:
    """The fields that get a flag, by dotted path: a nested model that always has a
    value contributes its own fields instead of one flag."""
    flat: dict[str, FieldInfo] = {}
    for name, field in model.model_fields.items():
        nested = _nested_model(field)
        if nested is not None:
            flat |= flat_fields(nested, f"{prefix}{name}.")
        else:
            flat[f"{prefix}{name}"] = field
    return flat


def flat_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every dotted field path of `model`, nested ones included (what a shortcut may set)."""
    paths: set[str] = set()
    for name, field in model.model_fields.items():
        paths.add(f"{prefix}{name}")
        nested = _model_in(field.annotation)
        if nested is not None:
            paths |= flat_paths(nested, f"{prefix}{name}.")
    return paths


def flag_of(path: str) -> str:
    """The flag of a dotted field path: `gate.min_improvement` -> `--gate-min-improvement`."""
    return "--" + path.replace(".", "-").replace("_", "-")


def _nested_model(field: FieldInfo) -> type[BaseModel] | None:
    """The model of a field whose type is exactly a model (not optional, not a union)."""
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, alone or beside None (`EstimatorSpec | None`)."""
    options = [a for a in _union_members(annotation) if a is not type(None)]
    if len(options) == 1 and isinstance(options[0], type) and issubclass(options[0], BaseModel):
        return options[0]
    return None


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _kind(annotation: Any) -> str:
    """How a flag reads its field: bool, scalar, list (repeated scalars) or json."""
    options = [a for a in _union_members(annotation) if a is not type(None)]
    if options == [bool]:
        return "bool"
    if all(a in _SCALARS or typing.get_origin(a) is typing.Literal for a in options):
        return "scalar"
    if len(options) == 1 and typing.get_origin(options[0]) in (list, tuple, set, frozenset):
        items = [a for a in typing.get_args(options[0]) if a is not Ellipsis]
        if items and all(a in _SCALARS for a in items):
            return "list"
    return "json"


def _help(field: FieldInfo) -> str:
    return field.description or ""


def _default(field: FieldInfo) -> Any:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _add_field(parser: argparse.ArgumentParser, path: str, field: FieldInfo) -> None:
    flag, dest = flag_of(path), _DEST + path
    kind = _kind(field.annotation)
    metavar = path.rpartition(".")[2].upper()
    if kind == "json":
        metavar = "TEXT|JSON" if str in _union_members(field.annotation) else "JSON"
    common: dict[str, Any] = {"dest": dest, "default": argparse.SUPPRESS}
    text = f"{_help(field)} (default: {_default(field)})"
    if kind == "bool":
        parser.add_argument(
            flag, nargs="?", const=True, type=_bool, metavar="BOOL", help=text, **common
        )
        parser.add_argument(
            "--no-" + flag.removeprefix("--"), action="store_false", help=f"{flag} false", **common
        )
    elif kind == "list":
        parser.add_argument(
            flag, action="append", metavar=metavar, help=f"{text}; repeatable", **common
        )
    elif kind == "json":
        parser.add_argument(flag, type=_json_or_text, metavar=metavar, help=text, **common)
    else:
        choices = _choices(field.annotation)
        listed = f"; one of {', '.join(choices)}" if choices else ""
        parser.add_argument(
            flag, choices=choices, metavar=metavar, help=text + listed, **common
        )


def _add_shortcut(parser: argparse._ArgumentGroup, shortcut: Shortcut, text: str) -> None:
    common: dict[str, Any] = {
        "dest": _SHORTCUT + shortcut.flag,
        "default": argparse.SUPPRESS,
        "help": text,
    }
    if shortcut.value is not None:
        parser.add_argument(shortcut.flag, action="store_const", const=shortcut.value, **common)
    elif shortcut.repeatable:
        parser.add_argument(shortcut.flag, action="append", metavar="VALUE", **common)
    else:
        parser.add_argument(shortcut.flag, metavar="VALUE", **common)


def _choices(annotation: Any) -> list[str] | None:
    literals = [a for a in _union_members(annotation) if typing.get_origin(a) is typing.Literal]
    if len(literals) != 1 or len(_union_members(annotation)) != 1:
        return None
    return [str(value) for value in typing.get_args(literals[0])]


def _bool(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _json_or_text(text: str) -> Any:
    """A JSON object or array, or else the text itself (`--dataset digits`)."""
    if not text.lstrip().startswith(("{", "[")):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"invalid JSON: {error}") from None


def _converted(shortcut: Shortcut, raw: Any, given: Mapping[str, Any]) -> Any:
    if shortcut.convert is None:
        return raw
    if shortcut.repeatable:
        return [shortcut.convert(item, given) for item in raw]
    return shortcut.convert(raw, given)


def _set(data: dict[str, Any], path: str, value: Any, append: bool) -> None:
    """Set (or, with `append`, extend) the value at a dotted path of nested dicts."""
    *parents, leaf = path.split(".")
    for name in parents:
        data = data.setdefault(name, {})
    if append:
        data.setdefault(leaf, []).extend(value)
    else:
        data[leaf] = value
