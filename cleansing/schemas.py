"""Pandera schemas of the data sets labelloop uses in demos and tests, and the helpers
that turn a schema (an import path or pandera's own YAML form) into normalisation
options and id columns.

Each schema's metadata (``Config.metadata`` of a model, ``metadata:`` in YAML) may name:

* ``id_columns``: the content columns whose values define an item (its ``item_id``);
  default: every column of the schema.
* ``categorical``: text columns brought to one case during normalisation.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Iterator
from typing import Any

import pandas as pd
import yaml
import pandera.pandas as pa
from pandera.typing import Series

from cleansing.errors import SchemaLoadError
from cleansing.normalise import NormaliseOptions, TargetKind

IRIS_SPECIES = ["setosa", "versicolor", "virginica"]
TEXT_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt"]


class DigitImages(pa.DataFrameModel):
    """One row per image file of the digits data set (8x8 PNGs rendered from load_digits).

    ``key`` is the image's key in the DataStore, ``checksum`` its SHA-256; ``label`` is
    optional (present when the images were collected with known labels).
    """

    key: Series[str] = pa.Field(str_length={"min_value": 1})
    size: Series[int] = pa.Field(gt=0)
    checksum: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    label: Series[pd.Int64Dtype] | None = pa.Field(ge=0, le=9, nullable=True)

    class Config:
        coerce = True
        strict = False
        metadata = {"id_columns": ["checksum"], "categorical": []}  # noqa: RUF012


class IrisMeasurements(pa.DataFrameModel):
    """Tabular measurements (scikit-learn's iris, and the generated benchmark data)."""

    sepal_length: Series[float] = pa.Field(gt=0, le=30)
    sepal_width: Series[float] = pa.Field(gt=0, le=30)
    petal_length: Series[float] = pa.Field(gt=0, le=30)
    petal_width: Series[float] = pa.Field(gt=0, le=30)
    species: Series[str] = pa.Field(isin=IRIS_SPECIES)

    class Config:
        coerce = True
        strict = False
        metadata = {  # noqa: RUF012 (pandera reads it)
            "id_columns": ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"],
            "categorical": ["species"],
        }


class TextSnippets(pa.DataFrameModel):
    """Short texts to classify; ``lang`` and ``label`` are optional."""

    text: Series[str] = pa.Field(str_length={"min_value": 1, "max_value": 10_000})
    lang: Series[str] | None = pa.Field(isin=TEXT_LANGUAGES, nullable=True)
    label: Series[str] | None = pa.Field(nullable=True)

    class Config:
        coerce = True
        strict = False
        metadata = {"id_columns": ["text"], "categorical": ["lang"]}  # noqa: RUF012


SchemaType = pa.DataFrameSchema

def is_schema_yaml(ref: str) -> bool:
    """Whether a schema reference is a YAML document rather than an import path (which
    has no whitespace and no braces)."""
    return any(c.isspace() for c in ref) or ref.lstrip().startswith("{")


def load_schema(ref: str) -> SchemaType:
    """The schema a reference names: pandera's YAML form of a ``DataFrameSchema``
    (``DataFrameSchema.to_yaml()``, imports nothing) or the import path of a
    ``DataFrameModel`` (``"package.module:Class"`` or ``"package.module.Class"``).

    Args:
        ref: a YAML document (it has a line break) or an import path.

    Returns:
        The DataFrameSchema, its metadata (``id_columns``, ``categorical``) attached.

    Raises:
        SchemaLoadError: naming the path or what in the YAML does not parse.
    """
    if is_schema_yaml(ref):
        return schema_from_yaml(ref)
    model = _import_model(ref)
    schema = copy.copy(model.to_schema())
    schema.metadata = dict((model.get_metadata() or {}).get(model.__name__, {}).get("dataframe") or {})
    return schema


def schema_from_yaml(text: str) -> SchemaType:
    """A DataFrameSchema from pandera's YAML form; checks are pandera's built-in ones by
    name (``greater_than``, ``isin``, ``str_matches``...), nothing is imported.

    Raises:
        SchemaLoadError: naming the column or check that does not parse.
    """
    try:
        document = safe_yaml(text)
    except (yaml.YAMLError, ValueError) as error:
        raise SchemaLoadError(f"schema YAML does not parse: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("columns"), dict):
        raise SchemaLoadError("schema YAML must be a mapping with a 'columns' mapping")
    known = _known_checks()
    for where, name in _check_names(document, "schema"):
        if not isinstance(name, str) or name not in known:
            raise SchemaLoadError(f"{where}: {name!r} is not a pandera check")
    try:
        return pa.DataFrameSchema.from_yaml(text)
    except Exception as error:  # pandera raises TypeError, AttributeError, SchemaError...
        raise SchemaLoadError(f"schema YAML is not a pandera schema: {error}") from None


def safe_yaml(text: str) -> Any:
    """YAML read with the safe loader, refusing aliases: `*a` can nest a document into
    itself or fan out exponentially, and a schema or spec never needs one.

    Raises:
        yaml.YAMLError: not YAML.
        ValueError: the document uses an alias.
    """
    if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
        raise ValueError("YAML aliases (*name) are not accepted")
    return yaml.safe_load(text)


def _known_checks() -> set[str]:
    """pandera's built-in checks by name, and those an administrator's code registered."""
    return set(pa.Check.CHECK_FUNCTION_REGISTRY) | set(pa.Check.REGISTERED_CUSTOM_CHECKS)


def _check_names(node: Any, where: str) -> Iterator[tuple[str, object]]:
    """Every check a YAML schema names (keys of each `checks` mapping, `check_name`s),
    with where it is: pandera looks each up as an attribute of `Check`."""
    if isinstance(node, dict):
        for key, value in node.items():
            inner = f"{where}.{key}"
            if key == "checks" and isinstance(value, dict):
                yield from ((f"{inner}", name) for name in value)
            elif key == "checks" and isinstance(value, list):
                for item in value:
                    options = item.get("options") if isinstance(item, dict) else None
                    if isinstance(options, dict) and "check_name" in options:
                        yield inner, options["check_name"]
            if key == "check_name":
                yield where, value
            yield from _check_names(value, inner)
    elif isinstance(node, list):
        for item in node:
            yield from _check_names(item, where)


def _import_model(path: str) -> type[pa.DataFrameModel]:
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise SchemaLoadError(f"schema path {path!r} is not 'module:Class' or 'module.Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SchemaLoadError(
            f"schema path {path!r}: cannot import module {module_name!r}: {exc}"
        ) from exc
    schema = getattr(module, attr, None)
    if not (isinstance(schema, type) and issubclass(schema, pa.DataFrameModel)):
        raise SchemaLoadError(f"schema path {path!r}: {attr!r} is not a pandera DataFrameModel")
    return schema


def _metadata(schema: SchemaType) -> dict[str, Any]:
    return dict(schema.metadata or {})


def schema_columns(schema: SchemaType) -> dict[str, bool]:
    """The schema's columns and whether each is required.

    Args:
        schema: a DataFrameSchema (`load_schema`).

    Returns:
        ``{column: required}`` in schema order.
    """
    return {name: bool(column.required) for name, column in schema.columns.items()}


def id_columns(schema: SchemaType) -> list[str]:
    """Columns whose content defines an item's ``item_id``.

    Args:
        schema: a DataFrameSchema (`load_schema`).

    Returns:
        ``metadata["id_columns"]`` if set, else every schema column.
    """
    return list(_metadata(schema).get("id_columns") or schema_columns(schema))


def _kind(dtype: Any) -> TargetKind:
    target = getattr(dtype, "type", dtype)
    if pd.api.types.is_bool_dtype(target):
        return "bool"
    if pd.api.types.is_integer_dtype(target):
        return "int"
    if pd.api.types.is_float_dtype(target):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(target):
        return "datetime"
    return "string"


def target_kinds(schema: SchemaType) -> dict[str, TargetKind]:
    """The kind each schema column is coerced to during normalisation.

    Args:
        schema: a DataFrameSchema (`load_schema`).

    Returns:
        ``{column: kind}``.
    """
    return {name: _kind(column.dtype) for name, column in schema.columns.items()}


def options_for_schema(
    schema: SchemaType, base: NormaliseOptions | None = None
) -> NormaliseOptions:
    """Normalisation options filled in from the schema (target kinds, categorical columns).

    Values already set in ``base`` win over the schema's. With ``only_schema_columns``
    (the default), only the columns the schema names (and categorical ones) are trimmed
    and NA-mapped.

    Args:
        schema: a DataFrameSchema (`load_schema`).
        base: user options.

    Returns:
        The options to normalise frames of this schema with.
    """
    options = base or NormaliseOptions()
    dtypes = {**target_kinds(schema), **options.dtypes}
    categorical = options.categorical_columns or tuple(_metadata(schema).get("categorical") or ())
    columns = options.columns
    if columns is None and options.only_schema_columns:
        columns = tuple(dict.fromkeys([*dtypes, *categorical]))
    return options.model_copy(
        update={"dtypes": dtypes, "categorical_columns": tuple(categorical), "columns": columns}
    )
