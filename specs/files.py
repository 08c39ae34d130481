"""A data set declared in a YAML file: the spec, its schema in pandera's YAML form and
where its files land. Pure: parses and checks. The YAML is read safely (no tags, no
aliases); a `schema_path` or `estimator.import_path` in the file is an administrator's
import path, imported when the schema is checked and where the flows run.

    name: wine
    labels: {kind: tabular, labels: [cultivar-1, cultivar-2, cultivar-3]}
    features: {modality: tabular, numeric_columns: [alcohol, malic_acid]}
    value_column: alcohol
    schema:                      # pandera's YAML form (DataFrameSchema.to_yaml())
      columns:
        alcohol: {dtype: float64, checks: {greater_than: 0}}
        malic_acid: {dtype: float64, nullable: true}
      coerce: true
      metadata: {id_columns: [alcohol, malic_acid]}
    landing:
      - {kind: local, path: landing/wine/*.csv}

`labelloop dataset add FILE` reads it (`read_dataset_file`) and registers it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cleansing.errors import SchemaLoadError
from cleansing.schemas import load_schema, safe_yaml, schema_columns
from collection.sources import LocalSource, Source
from specs import DatasetSpec, SpecError

MAX_FILE_BYTES = 1_000_000
"""A spec file is a page of YAML; a larger one is refused unread."""

_GLOB_CHARS = set("*?[")


class DatasetFile(BaseModel):
    """What a spec file declares: the spec and the data set's landing sources."""

    model_config = ConfigDict(frozen=True)

    spec: DatasetSpec
    landing: list[Source] = Field(
        default_factory=list, description="Where new files land; the scheduled collect reads them."
    )


def read_dataset_file(path: Path) -> DatasetFile:
    """The data set a YAML file declares, checked; relative local landing paths are taken
    from the file's folder and made absolute.

    Raises:
        SpecError: naming the file and the field at fault (a schema that does not parse,
            a label set or feature column that does not fit, an unknown key).
    """
    try:
        size = path.stat().st_size
    except OSError as error:
        raise SpecError(f"{path}: cannot read the spec file: {error.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise SpecError(f"{path}: {size} bytes, over the {MAX_FILE_BYTES} a spec file may have")
    try:
        document = safe_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as error:
        raise SpecError(f"{path}: not YAML: {error}") from None
    return dataset_file_from_mapping(document, source=str(path), base=path.parent)


def dataset_file_from_mapping(document: Any, *, source: str, base: Path) -> DatasetFile:
    """`read_dataset_file` for a mapping already parsed (`source` names it in errors).

    Raises:
        SpecError: naming `source` and the field at fault.
    """
    if not isinstance(document, dict):
        raise SpecError(f"{source}: a spec file is a mapping of fields (name, labels, ...)")
    fields = dict(document)
    landing = fields.pop("landing", None) or []
    schema = fields.pop("schema", None)
    if schema is not None:
        if not isinstance(schema, dict):
            raise SpecError(f"{source}: schema: a mapping in pandera's YAML form (columns: ...)")
        fields["pandera_schema"] = yaml.safe_dump(schema, sort_keys=False)
    try:
        parsed = DatasetFile(spec=fields, landing=landing)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SpecError(f"{source}: {_first_problem(error)}") from None
    check_schema_fits(parsed.spec, source=source)
    return parsed.model_copy(update={"landing": [_absolute(s, base) for s in parsed.landing]})


def check_schema_fits(spec: DatasetSpec, *, source: str) -> None:
    """The schema parses and names every column the features and the annotators read.

    Raises:
        SpecError: naming the field and the column.
    """
    try:
        columns = schema_columns(load_schema(spec.schema_ref))
    except SchemaLoadError as error:
        raise SpecError(f"{source}: schema: {error}") from None
    wanted = {
        "value_column": [spec.value_column],
        "features.text_column": [spec.features.text_column] if spec.features.text_column else [],
        "features.numeric_columns": spec.features.numeric_columns,
        "features.categorical_columns": spec.features.categorical_columns,
    }
    for field, names in wanted.items():
        missing = [name for name in names if name not in columns]
        if missing:
            raise SpecError(
                f"{source}: {field}: column(s) {missing} are not in the schema "
                f"(it has {sorted(columns)})"
            )


def landing_problems(landing: list[Source]) -> list[str]:
    """Local landing paths whose folder does not exist, one sentence each."""
    problems = []
    for source in landing:
        if isinstance(source, LocalSource):
            folder = _fixed_part(Path(source.path))
            if not folder.is_dir():
                problems.append(f"landing path {source.path!r}: folder {str(folder)!r} does not exist")
    return problems


def _fixed_part(path: Path) -> Path:
    """The folder a local path or glob reads: the part before any glob character; a
    path with no glob is the folder itself, or a file's folder when it names a file."""
    parts = []
    for part in path.parts:
        if _GLOB_CHARS & set(part):
            return Path(*parts) if parts else Path(".")
        parts.append(part)
    return path.parent if path.suffix and not path.is_dir() else path


def _absolute(source: Source, base: Path) -> Source:
    if isinstance(source, LocalSource) and not Path(source.path).is_absolute():
        return source.model_copy(update={"path": str((base / source.path).resolve())})
    return source


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]).removeprefix("spec.") or "file"
    return f"{where}: {problem['msg']}"
