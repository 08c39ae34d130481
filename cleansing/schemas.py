"""Pandera schemas of the data sets labelloop uses in demos and tests, and the helpers
that turn a schema (given by import path) into normalisation options and id columns.

Each schema's ``Config.metadata`` may name:

* ``id_columns``: the content columns whose values define an item (its ``item_id``);
  default: every column of the schema.
* ``categorical``: text columns brought to one case during normalisation.
"""

from __future__ import annotations

import importlib
from typing import Any

import pandas as pd
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


SchemaType = type[pa.DataFrameModel]


def load_schema(path: str) -> SchemaType:
    """Load a DataFrameModel from ``"package.module:Class"`` or ``"package.module.Class"``.

    Args:
        path: the import path, e.g. ``"cleansing.schemas:IrisMeasurements"``.

    Returns:
        The DataFrameModel class.

    Raises:
        SchemaLoadError: naming the path if the module or attribute is missing or the
            attribute is not a pandera DataFrameModel.
    """
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
    meta = schema.get_metadata() or {}
    return dict((meta.get(schema.__name__) or {}).get("dataframe") or {})


def schema_columns(schema: SchemaType) -> dict[str, bool]:
    """The schema's columns and whether each is required.

    Args:
        schema: a DataFrameModel.

    Returns:
        ``{column: required}`` in schema order.
    """
    return {name: bool(column.required) for name, column in schema.to_schema().columns.items()}


def id_columns(schema: SchemaType) -> list[str]:
    """Columns whose content defines an item's ``item_id``.

    Args:
        schema: a DataFrameModel.

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
        schema: a DataFrameModel.

    Returns:
        ``{column: kind}``.
    """
    return {name: _kind(column.dtype) for name, column in schema.to_schema().columns.items()}


def options_for_schema(
    schema: SchemaType, base: NormaliseOptions | None = None
) -> NormaliseOptions:
    """Normalisation options filled in from the schema (target kinds, categorical columns).

    Values already set in ``base`` win over the schema's. With ``only_schema_columns``
    (the default), only the columns the schema names (and categorical ones) are trimmed
    and NA-mapped.

    Args:
        schema: a DataFrameModel.
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
