"""Default scikit-learn pipelines per modality, with a configurable estimator.

- text: TF-IDF on one text column, then the estimator (LogisticRegression by default).
- image: pixels scaled to [0, 1] by a fixed maximum (:class:`PixelScaler`), then the
  estimator (:class:`KernelLogisticRegression` by default: an RBF kernel map, then
  logistic regression). Input: a 2-D array (items x pixels) or a frame of pixel columns.
- tabular: a ``ColumnTransformer`` (numeric: median impute + standard scale;
  categorical: most-frequent impute + one-hot, unknown categories ignored), then the
  estimator.

The estimator is an :class:`EstimatorSpec`: an import path and keyword parameters, so
it can be chosen from a flow's parameters without code changes.
"""

import importlib
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from learning.configs import EstimatorSpec, FeatureSpec, Modality

# Dimensions kept when text features are reduced for the diversity part of selection.
TEXT_SELECTION_COMPONENTS = 64


class PipelineConfigError(ValueError):
    """A pipeline cannot be built from the given specs."""


DEFAULT_ESTIMATORS: dict[Modality, EstimatorSpec] = {
    "text": EstimatorSpec(import_path="sklearn.linear_model.LogisticRegression", params={"max_iter": 1000, "C": 10.0}),
    "image": EstimatorSpec(import_path="learning.pipelines.KernelLogisticRegression"),
    "tabular": EstimatorSpec(import_path="sklearn.linear_model.LogisticRegression", params={"max_iter": 1000}),
}


class PixelScaler(TransformerMixin, BaseEstimator):
    """Stateless transform: flatten each item's pixels and divide by ``pixel_max``.

    Args:
        pixel_max: the largest possible pixel value; outputs are clipped to [0, 1].
    """

    def __init__(self, pixel_max: float = 255.0) -> None:
        self.pixel_max = pixel_max

    def fit(self, X: Any, y: Any = None) -> "PixelScaler":
        """Nothing to learn; records the number of pixels.

        Args:
            X: (n_items, ...) pixels.
            y: ignored.

        Returns:
            self.
        """
        self.n_features_in_ = _as_pixels(X).shape[1]
        return self

    def transform(self, X: Any) -> NDArray[np.float64]:
        """Scale pixels to [0, 1].

        Args:
            X: (n_items, ...) pixels.

        Returns:
            (n_items, n_pixels) floats in [0, 1].
        """
        pixels = _as_pixels(X)
        expected = getattr(self, "n_features_in_", pixels.shape[1])
        if pixels.shape[1] != expected:
            raise PipelineConfigError(f"images have {pixels.shape[1]} pixels, the model was fitted on {expected}")
        return np.clip(pixels / self.pixel_max, 0.0, 1.0)


class KernelLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression on an RBF kernel map: the default image estimator.

    The map is scikit-learn's ``Nystroem`` (an RBF kernel approximated with up to
    ``n_components`` of the training rows as landmarks, chosen with ``random_state``),
    so with fewer training rows than ``n_components`` it is an exact kernel logistic
    regression on them. Deterministic for a given ``random_state``.

    Args:
        gamma: RBF kernel coefficient, or ``"scale"`` (as scikit-learn's SVC):
            ``1 / (n_features * variance of the training features)``, so the kernel's
            width follows the number of pixels and their contrast (0.11 for
            load_digits scaled to [0, 1]). The value used is ``gamma_``.
        n_components: most landmarks of the kernel map.
        C: inverse regularisation strength of the logistic regression. 30 by default:
            with C=100 the model was overconfident (on 10 random 300-row splits of
            load_digits, 13 of 14,970 wrong predictions had p >= 0.9, which the monitor
            flow disputes as mislabelled; C=30, C=10 and logistic regression on the
            pixels had none), and C=30 needed fewer labels than C=10 (label-efficiency
            ratio on load_digits seeds 0-4: 0.263 against 0.299).
        max_iter: iterations of the logistic regression's solver.
        random_state: seed of the landmark choice.
    """

    def __init__(
        self,
        gamma: float | Literal["scale"] = "scale",
        n_components: int = 300,
        C: float = 30.0,
        max_iter: int = 1000,
        random_state: int = 0,
    ) -> None:
        self.gamma = gamma
        self.n_components = n_components
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> "KernelLogisticRegression":
        """Choose the landmarks and fit the logistic regression on the mapped rows.

        Args:
            X: (n_items, n_features) numeric features.
            y: (n_items,) labels, at least two classes.

        Returns:
            self.
        """
        rows = np.asarray(X, dtype=np.float64)
        self.gamma_ = _kernel_gamma(self.gamma, rows)
        self.kernel_map_ = Nystroem(
            kernel="rbf",
            gamma=self.gamma_,
            n_components=min(self.n_components, len(rows)),
            random_state=self.random_state,
        ).fit(rows)
        self.model_ = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(self.kernel_map_.transform(rows), y)
        self.classes_ = self.model_.classes_
        self.n_features_in_ = rows.shape[1]
        return self

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        """Class probabilities, columns in the order of ``classes_``.

        Args:
            X: (n_items, n_features) numeric features.

        Returns:
            (n_items, n_classes) probabilities.
        """
        return self.model_.predict_proba(self.kernel_map_.transform(np.asarray(X, dtype=np.float64)))

    def predict(self, X: Any) -> NDArray[Any]:
        """The most probable class of each row.

        Args:
            X: (n_items, n_features) numeric features.

        Returns:
            (n_items,) labels from ``classes_``.
        """
        return self.model_.predict(self.kernel_map_.transform(np.asarray(X, dtype=np.float64)))


def _kernel_gamma(gamma: float | str, rows: NDArray[np.float64]) -> float:
    """The RBF coefficient: ``gamma`` itself, or for "scale" 1 / (n_features * variance)."""
    if gamma == "scale":
        variance = float(rows.var())
        return 1.0 / (rows.shape[1] * variance) if variance > 0 else 1.0
    if isinstance(gamma, str) or gamma <= 0:
        raise PipelineConfigError(f'KernelLogisticRegression: gamma must be a positive number or "scale", got {gamma!r}')
    return float(gamma)


def _as_pixels(X: Any) -> NDArray[np.float64]:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim < 2:
        raise PipelineConfigError(f"images must be an (items x pixels) array, got shape {arr.shape}")
    return arr.reshape(len(arr), -1)


def load_estimator(spec: EstimatorSpec) -> BaseEstimator:
    """Import and instantiate the estimator named by ``spec``.

    Args:
        spec: import path and parameters.

    Returns:
        An unfitted estimator.

    Raises:
        PipelineConfigError: the module or class does not exist, is not an estimator,
            or rejects the parameters.
    """
    module_name, _, class_name = spec.import_path.rpartition(".")
    if not module_name:
        raise PipelineConfigError(f"estimator import_path {spec.import_path!r} must be 'package.module.Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PipelineConfigError(
            f"estimator import_path {spec.import_path!r}: cannot import module {module_name!r}: {exc}"
        ) from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise PipelineConfigError(
            f"estimator import_path {spec.import_path!r}: module {module_name!r} has no {class_name!r}"
        )
    if not (isinstance(cls, type) and hasattr(cls, "fit") and hasattr(cls, "get_params")):
        raise PipelineConfigError(f"estimator import_path {spec.import_path!r} is not a scikit-learn estimator class")
    try:
        return cls(**spec.params)
    except TypeError as exc:
        raise PipelineConfigError(f"estimator {spec.import_path!r} rejects params {spec.params}: {exc}") from exc


def build_features(spec: FeatureSpec) -> Pipeline | ColumnTransformer:
    """The unfitted feature part of the pipeline for ``spec``.

    Args:
        spec: modality and columns.

    Returns:
        A transformer turning rows into a numeric matrix.
    """
    if spec.modality == "text":
        assert spec.text_column is not None  # validated by FeatureSpec
        return ColumnTransformer(
            [("text", TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1), spec.text_column)]
        )
    if spec.modality == "image":
        return Pipeline([("pixels", PixelScaler(pixel_max=spec.pixel_max))])
    transformers: list[tuple[str, Any, list[str]]] = []
    if spec.numeric_columns:
        numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        transformers.append(("numeric", numeric, list(spec.numeric_columns)))
    if spec.categorical_columns:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("onehot", OneHotEncoder(handle_unknown="ignore")),
            ]
        )
        transformers.append(("categorical", categorical, list(spec.categorical_columns)))
    return ColumnTransformer(transformers)


def build_pipeline(spec: FeatureSpec, estimator: EstimatorSpec | None = None) -> Pipeline:
    """The unfitted pipeline: features for the modality, then the estimator.

    Args:
        spec: modality and columns.
        estimator: the estimator; :data:`DEFAULT_ESTIMATORS` for the modality if None.

    Returns:
        ``Pipeline([("features", ...), ("model", estimator)])``.

    Raises:
        PipelineConfigError: the estimator cannot be loaded.
    """
    model = load_estimator(estimator or DEFAULT_ESTIMATORS[spec.modality])
    return Pipeline([("features", build_features(spec)), ("model", model)])


def selection_features(spec: FeatureSpec, rows: pd.DataFrame | NDArray[Any], seed: int = 0) -> NDArray[np.float64]:
    """Dense features of the whole pool for the diversity part of selection.

    Fitted on the pool itself (no labels needed). Text is reduced to at most
    :data:`TEXT_SELECTION_COMPONENTS` dimensions with a seeded truncated SVD.

    Args:
        spec: modality and columns.
        rows: the pool, as for the pipeline.
        seed: seed of the SVD.

    Returns:
        (n_items, n_features) float matrix.
    """
    matrix = build_features(spec).fit_transform(rows)
    if spec.modality == "text":
        n_components = min(TEXT_SELECTION_COMPONENTS, matrix.shape[1] - 1, matrix.shape[0] - 1)
        if n_components >= 1:
            matrix = TruncatedSVD(n_components=n_components, random_state=seed).fit_transform(matrix)
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=np.float64)
