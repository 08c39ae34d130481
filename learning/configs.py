"""What a model is made of, as data: the feature spec and the estimator spec.

Pure pydantic, no scikit-learn: the data set specs (`specs`) and the flows that only
name a data set (the label sync) import these without paying for scikit-learn and
SciPy; `learning.pipelines` builds the pipelines from them.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Modality = Literal["text", "image", "tabular"]


class EstimatorSpec(BaseModel):
    """Which estimator to fit: a class by import path and its keyword parameters.

    Example: ``EstimatorSpec(import_path="sklearn.ensemble.RandomForestClassifier",
    params={"n_estimators": 200})``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    import_path: str = Field(
        description="Dotted path of an estimator class, e.g. sklearn.linear_model.LogisticRegression",
        min_length=1,
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments of the class"
    )


class FeatureSpec(BaseModel):
    """How rows become features.

    Args:
        modality: text, image or tabular.
        text_column: the text column (text only).
        numeric_columns / categorical_columns: tabular columns (at least one).
        pixel_max: the largest pixel value (255 for 8-bit images, 16 for load_digits).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    modality: Modality
    text_column: str | None = Field(default=None, description="Column holding the text")
    numeric_columns: list[str] = Field(default_factory=list, description="Numeric tabular columns")
    categorical_columns: list[str] = Field(
        default_factory=list, description="Categorical tabular columns"
    )
    pixel_max: float = Field(default=255.0, gt=0, description="Largest possible pixel value")

    @model_validator(mode="after")
    def _columns_match_modality(self) -> "FeatureSpec":
        if self.modality == "text" and not self.text_column:
            raise ValueError("text_column is required for the text modality")
        if self.modality == "tabular" and not (self.numeric_columns or self.categorical_columns):
            raise ValueError("the tabular modality needs numeric_columns or categorical_columns")
        overlap = set(self.numeric_columns) & set(self.categorical_columns)
        if overlap:
            raise ValueError(f"columns both numeric and categorical: {sorted(overlap)}")
        return self
