"""What a data set is to labelloop: its schema, its label set, how it becomes features.

Pure: composes the label spec of `annotation`, the feature spec of `learning` and the
import path of a pandera schema into one `DatasetSpec` that every flow takes by name.

A flow parameter names a data set (`DatasetName`: lower-case letters, digits, `-`); the
name is looked up among the shipped ones and then among the data sets registered on the
Prefect server (`tasks.datasets.resolve_dataset`, a `DatasetRegistration` block per
name). A lookup never imports anything, so a name that came from
an event or a Label Studio project title cannot run code. Only `load_spec`, called by an
administrator's script or command line, imports a `package.module:SPEC` path; a spec
file (`specs.files`) is read with a safe YAML loader.
"""

from __future__ import annotations

import importlib
import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from annotation.config import DataKind, LabelSpec
from learning.configs import EstimatorSpec, FeatureSpec

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,59}$"
"""A data set, project or model name: no `.`, `:`, `/`, so never an import or a path."""
LABELS_VERSION_PATTERN = r"^(latest|[0-9]{8}T[0-9]{12}Z-[0-9a-f]{6})$"
"""`latest` or a labels version id such as `20261122T065900123456Z-1a2b3c`."""

_NAME_RE = re.compile(NAME_PATTERN)

REASON_MAX_LENGTH = 500
"""A run's `reason` is cut to this many characters (a trigger fills it from an event)."""


def cut_reason(value: object) -> object:
    """A reason longer than `REASON_MAX_LENGTH` cut short with an ellipsis, never refused:
    a trigger whose event message is long must still create its run."""
    if isinstance(value, str) and len(value) > REASON_MAX_LENGTH:
        return value[: REASON_MAX_LENGTH - 1] + "\u2026"
    return value


Reason = Annotated[str | None, BeforeValidator(cut_reason)]
"""Why a run happened (set by triggers); long text is cut, not refused."""

DatasetName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
LabelsVersion = Annotated[str, StringConstraints(pattern=LABELS_VERSION_PATTERN)]

_KIND_OF_MODALITY = {"text": DataKind.TEXT, "image": DataKind.IMAGE, "tabular": DataKind.TABULAR}


class DatasetSpec(BaseModel):
    """One data set: where its rows come from is the collect flow's business; this says
    what they are.

    Attributes:
        name: the data set's stable name: `raw/<name>/`, `clean/<name>/`, the model name
            and, unless `project_title` is set, the Label Studio project's title.
        schema_path: import path of a pandera `DataFrameModel` that validates its rows
            (for custom checks written in Python); or
        pandera_schema: the schema in pandera's own YAML form (`DataFrameSchema.to_yaml()`,
            built-in checks only, nothing imported). Exactly one of the two.
        labels: the label set and the kind of labelling task.
        features: how clean rows become model features.
        value_column: the clean column shown to annotators (an image's store key, a text).
        image_size: (width, height) images are resized to for features (images only).
        estimator: the estimator a retrain fits by default (None: the modality's default).
        project_title: the title of the data set's Label Studio project (None: the name);
            set when an existing project is adopted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, max_length=60, description="The data set's name.")
    schema_path: str | None = Field(
        default=None, min_length=3, description="Import path of a pandera DataFrameModel."
    )
    pandera_schema: str | None = Field(
        default=None, min_length=3, description="The schema in pandera's YAML form."
    )
    labels: LabelSpec
    features: FeatureSpec
    value_column: str = Field(min_length=1, description="The clean column annotators see.")
    image_size: tuple[int, int] = (8, 8)
    estimator: EstimatorSpec | None = Field(
        default=None, description="Estimator a retrain fits (None: the modality's default)."
    )
    project_title: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Title of the Label Studio project (None: the data set's name).",
    )

    @property
    def schema_ref(self) -> str:
        """The schema as `cleansing.schemas.load_schema` takes it: the YAML or the path."""
        return self.pandera_schema or self.schema_path or ""

    @property
    def project(self) -> str:
        """The title of the data set's Label Studio project."""
        return self.project_title or self.name

    @model_validator(mode="after")
    def _one_schema(self) -> DatasetSpec:
        if (self.schema_path is None) == (self.pandera_schema is None):
            raise ValueError("give exactly one of schema_path and pandera_schema")
        return self

    @model_validator(mode="after")
    def _kinds_agree(self) -> DatasetSpec:
        expected = _KIND_OF_MODALITY[self.features.modality]
        if self.labels.kind != expected:
            raise ValueError(
                f"labels.kind is {self.labels.kind.value} but features.modality is "
                f"{self.features.modality}: they must describe the same kind of item"
            )
        return self


DIGITS = DatasetSpec(
    name="digits",
    schema_path="cleansing.schemas.DigitImages",
    labels=LabelSpec(kind=DataKind.IMAGE, labels=[str(d) for d in range(10)], data_key="image"),
    features=FeatureSpec(modality="image", pixel_max=255.0),
    value_column="key",
    image_size=(8, 8),
)

TEXTS = DatasetSpec(
    name="texts",
    schema_path="cleansing.schemas.TextSnippets",
    labels=LabelSpec(kind=DataKind.TEXT, labels=["positive", "negative", "neutral"], data_key="text"),
    features=FeatureSpec(modality="text", text_column="text"),
    value_column="text",
)

IRIS = DatasetSpec(
    name="iris",
    schema_path="cleansing.schemas.IrisMeasurements",
    labels=LabelSpec(kind=DataKind.TABULAR, labels=["setosa", "versicolor", "virginica"]),
    features=FeatureSpec(
        modality="tabular",
        numeric_columns=["sepal_length", "sepal_width", "petal_length", "petal_width"],
    ),
    value_column="sepal_length",
)

SHIPPED: dict[str, DatasetSpec] = {spec.name: spec for spec in (DIGITS, TEXTS, IRIS)}


class SpecError(ValueError):
    """A data set spec could not be found."""


def load_spec(name_or_path: str) -> DatasetSpec:
    """A shipped spec by name (`digits`), or a user's by import path (`pkg.module:SPEC`).

    This imports the module: call it only with a path an administrator wrote (a script,
    the command line), never with a flow parameter or anything an event carries.

    Raises:
        SpecError: naming what was asked for and what exists.
    """
    if name_or_path in SHIPPED:
        return SHIPPED[name_or_path]
    module_name, sep, attribute = name_or_path.partition(":")
    if not sep:
        raise SpecError(
            f"unknown data set {name_or_path!r}: use one of {sorted(SHIPPED)} or 'package.module:SPEC'"
        )
    try:
        value = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise SpecError(f"cannot load data set spec {name_or_path!r}: {error}") from None
    if not isinstance(value, DatasetSpec):
        raise SpecError(f"{name_or_path!r} is a {type(value).__name__}, not a DatasetSpec")
    return value


def resolve_spec(value: str | DatasetSpec) -> DatasetSpec:
    """A shipped data set's spec by name, or a spec given whole (a registered data set
    is found by `tasks.datasets.resolve_dataset`, which the flows call).

    Never imports: an import path (or any other unknown name) is refused.

    Raises:
        SpecError: the name is not a shipped data set.
    """
    if isinstance(value, DatasetSpec):
        return value
    if value in SHIPPED:
        return SHIPPED[value]
    raise SpecError(
        f"unknown data set {value!r}: not one of the shipped {sorted(SHIPPED)} (a flow also "
        "takes a registered data set's name, or a whole DatasetSpec)"
    )


def is_dataset_name(value: object) -> bool:
    """Whether `value` has the shape of a data set, project or model name."""
    return isinstance(value, str) and _NAME_RE.fullmatch(value) is not None

