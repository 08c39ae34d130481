"""The reference profile saved with a model, and the drift comparison of a batch against it.

A profile reduces every column to one or more *features*, each a binned reference
distribution:

- numeric column ``x``: feature ``x`` (quantile bins of the reference + a missing bin);
- categorical column ``c``: feature ``c`` (category proportions + an "unseen" bucket);
- text column ``t``: ``t.length`` (characters), ``t.tokens`` (word count) and ``t.oov``
  (per-row share of words outside the reference vocabulary), all numeric;
- image column ``i`` (pixel arrays): ``i.mean`` and ``i.std`` per image (numeric) and
  ``i.intensity``, the histogram of all pixel intensities;
- the model's predictions: ``prediction.class`` (the class mix of the arg-max) and
  ``prediction.confidence`` (the top probability).

`compare` bins the batch the same way and computes, per feature, the PSI (effect size)
and the chi-square test of homogeneity (significance). A feature has drifted when its
PSI is at least `DriftThresholds.psi` AND its p-value is below ``alpha / m``, m being the
number of features tested in the batch (Bonferroni), so the chance that a batch from the
reference distribution raises an alarm stays below `alpha` however many columns it has.

Build the prediction section from predictions the model made on data it did not fit
(out-of-fold, e.g. ``cross_val_predict(..., method="predict_proba")``, or a holdout): a
model is over-confident on its own training rows, and a profile of those would make every
fresh batch look "drifted" in confidence.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, Field

from monitoring.stats import (
    DEFAULT_FLOOR,
    bin_counts,
    bin_counts_matrix,
    category_counts,
    category_key,
    chi_square_homogeneity,
    proportions,
    psi,
    quantile_edges,
)

ColumnKind = Literal["numeric", "categorical", "text", "image"]

PROFILE_FORMAT = 1
PREDICTION_COLUMN = "prediction"
# Identifiers and bookkeeping written by collect/cleanse: never profiled unless asked for.
DEFAULT_IGNORED = ("item_id", "row_hash", "source", "collected_at", "batch_id", "label")
_TOKEN = re.compile(r"\w+")


class FeatureProfile(BaseModel):
    """The reference distribution of one feature."""

    kind: Literal["numeric", "categorical"]
    column: str = Field(description="The batch column (or 'prediction') the feature comes from.")
    edges: list[float] = Field(default_factory=list, description="Numeric: interior bin edges.")
    categories: list[str] = Field(default_factory=list, description="Categorical: known values.")
    proportions: list[float] = Field(
        description="Numeric: one per bin then missing; categorical: one per category then unseen."
    )
    n: int = Field(ge=0, description="Reference rows behind the proportions.")
    values_per_row: float = Field(
        default=1.0,
        gt=0,
        description="Values each row contributes (pixels per image); tests count rows, not values.",
    )


class ReliabilityBin(BaseModel):
    """How often the model was right on evaluated rows of one confidence range."""

    upper: float = Field(description="Highest confidence in the bin (the bins are ordered).")
    n: int = Field(ge=1)
    correct: int = Field(ge=0)


class PredictionProfile(BaseModel):
    """The model's predictions on reference data: class mix and confidence."""

    classes: list[str]
    class_mix: FeatureProfile
    confidence: FeatureProfile
    reliability: list[ReliabilityBin] = Field(
        default_factory=list,
        description="Accuracy by confidence on the evaluated rows (empty in profiles saved "
        "without their labels, or before it existed).",
    )


def reliability_bin_of(
    uppers: npt.NDArray[np.float64], confidence: Sequence[float] | npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """The bin of each confidence: the first whose upper edge it does not pass; the last
    bin for anything above (how bins are built and how they are read).
    """
    found = np.searchsorted(uppers, np.asarray(confidence, dtype=np.float64), side="left")
    return np.minimum(found, len(uppers) - 1)


def reliability_bins(
    confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 5
) -> list[ReliabilityBin]:
    """Accuracy of a model's out-of-fold predictions by confidence: quantile bins.

    Args:
        confidence: the top class probability of each evaluated row.
        correct: whether the top class was the row's label.
        n_bins: at most this many bins (equal counts; ties merge bins).

    Returns:
        The bins, by increasing confidence; empty with no rows.
    """
    if len(confidence) != len(correct):
        raise ValueError(f"{len(confidence)} confidences but {len(correct)} outcomes")
    if not len(confidence):
        return []
    values = np.asarray(confidence, dtype=np.float64)
    right = np.asarray(correct, dtype=bool)
    uppers = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:]))
    which = reliability_bin_of(uppers, values)
    return [
        ReliabilityBin(upper=float(upper), n=int(n), correct=int(right[which == i].sum()))
        for i, upper in enumerate(uppers)
        if (n := int((which == i).sum()))
    ]


class ReferenceProfile(BaseModel):
    """What the training data looked like; saved as JSON beside the model."""

    format: int = PROFILE_FORMAT
    n_rows: int = Field(ge=0)
    columns: dict[str, ColumnKind] = Field(description="Profiled columns and how they were read.")
    features: dict[str, FeatureProfile]
    vocabularies: dict[str, list[str]] = Field(
        default_factory=dict, description="Text column -> the reference vocabulary."
    )
    predictions: PredictionProfile | None = None
    other_columns: list[str] = Field(
        default_factory=list,
        description=(
            "Columns of the reference frame that were not profiled (file metadata, columns the "
            "model does not use): a batch that has them is not reported as having new columns."
        ),
    )


class DriftThresholds(BaseModel):
    """When a batch counts as drifted."""

    psi: float = Field(
        default=0.2, ge=0, description="Smallest PSI that counts as drift (0.1-0.25: moderate)."
    )
    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Per-batch false alarm rate; each feature is tested at alpha / features.",
    )
    min_rows: int = Field(
        default=30, ge=1, description="Smaller batches get statistics but no drift decision."
    )
    floor: float = Field(default=DEFAULT_FLOOR, gt=0, description="PSI floor for empty bins.")


class FeatureDrift(BaseModel):
    """One feature of a batch against its reference."""

    feature: str
    column: str
    kind: Literal["numeric", "categorical"]
    psi: float
    chi_square: float
    p_value: float
    dof: int
    drifted: bool


class DriftReport(BaseModel):
    """The comparison of one batch with the reference profile."""

    n_rows: int
    checked: bool = Field(description="False when nothing could be compared (see messages).")
    drifted: bool
    drifted_columns: list[str] = Field(
        default_factory=list,
        description="Columns with a drifted feature; 'prediction' for the model's.",
    )
    features: list[FeatureDrift] = Field(default_factory=list)
    alpha_per_test: float | None = None
    thresholds: DriftThresholds
    messages: list[str] = Field(default_factory=list)

    @property
    def drifted_features(self) -> list[FeatureDrift]:
        """The features that drifted, largest PSI first."""
        return sorted((f for f in self.features if f.drifted), key=lambda f: -f.psi)


@dataclass(frozen=True)
class _Values:
    """The values of one feature in a frame, before binning."""

    column: str
    kind: Literal["numeric", "categorical"]
    values: npt.NDArray[np.float64] | list[str]
    values_per_row: float = 1.0


def tokens(text: object) -> list[str]:
    """Lower-cased word tokens of a text value (missing -> none)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    return _TOKEN.findall(str(text).lower())


def infer_kind(series: pd.Series, max_categories: int = 50) -> ColumnKind | None:
    """How a column is profiled, from its values; None for columns that are not profiled.

    Numbers -> numeric; arrays/lists -> image; strings -> categorical when they take at
    most `max_categories` values and no value has whitespace in it, else text; booleans
    and pandas categoricals -> categorical; dates and empty columns -> None.
    """
    if isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(series):
        return "categorical"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series):
        return None
    present = series.dropna()
    if present.empty:
        return None
    first = present.iloc[0]
    if isinstance(first, (np.ndarray, list, tuple)):
        return "image"
    as_text = present.astype(str)
    if as_text.nunique() <= max_categories and not as_text.str.contains(r"\s").any():
        return "categorical"
    return "text"


def _numeric(series: pd.Series) -> tuple[npt.NDArray[np.float64], int]:
    """Float values of a column and how many present values were not numbers."""
    converted = pd.to_numeric(series, errors="coerce")
    not_numbers = int((converted.isna() & series.notna()).sum())
    return converted.to_numpy(dtype=np.float64, na_value=np.nan), not_numbers


def _pixels(value: object) -> npt.NDArray[np.float64]:
    """An image's pixels as floats; empty for a missing value or one that is not an array of
    numbers (the caller counts and reports those)."""
    if not isinstance(value, (np.ndarray, list, tuple)):
        return np.empty(0, dtype=np.float64)
    try:
        return np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return np.empty(0, dtype=np.float64)


def _numeric_block(frame: pd.DataFrame, columns: list[str]) -> dict[str, npt.NDArray[np.float64]]:
    """Float values of the columns that already have a numeric dtype, in one conversion."""
    numbers = frame.select_dtypes(include="number")
    available = set(numbers.columns)
    ready = [c for c in columns if c in available]
    if not ready:
        return {}
    # Selecting columns from a frame is costly; skip it when they are all wanted in order.
    block = numbers if list(numbers.columns) == ready else numbers[ready]
    values = block.to_numpy(dtype=np.float64, na_value=np.nan)
    return {c: values[:, i] for i, c in enumerate(ready)}


def _column_values(
    column: str,
    kind: ColumnKind,
    frame: pd.DataFrame,
    vocabulary: set[str] | None,
    numeric: npt.NDArray[np.float64] | None = None,
) -> tuple[dict[str, _Values], list[str]]:
    """The features of one column (and messages about values that did not fit).

    `numeric` are the column's values already converted (see `_numeric_block`).
    """
    messages: list[str] = []
    if kind == "numeric":
        if numeric is not None:
            return {column: _Values(column=column, kind="numeric", values=numeric)}, messages
        values, not_numbers = _numeric(frame[column])
        if not_numbers:
            messages.append(
                f"column {column!r}: {not_numbers} values are not numbers (counted as missing)"
            )
        return {column: _Values(column=column, kind="numeric", values=values)}, messages
    series = frame[column]
    if kind == "categorical":
        return {
            column: _Values(
                column=column, kind="categorical", values=[category_key(v) for v in series]
            )
        }, messages
    if kind == "text":
        words = [tokens(v) for v in series]
        lengths = np.array(
            [
                np.nan if v is None or (isinstance(v, float) and np.isnan(v)) else len(str(v))
                for v in series
            ],
            dtype=np.float64,
        )
        features = {
            f"{column}.length": _Values(column=column, kind="numeric", values=lengths),
            f"{column}.tokens": _Values(
                column=column,
                kind="numeric",
                values=np.array([len(w) for w in words], dtype=np.float64),
            ),
        }
        if vocabulary is not None:
            oov = np.array(
                [np.mean([t not in vocabulary for t in w]) if w else np.nan for w in words],
                dtype=np.float64,
            )
            features[f"{column}.oov"] = _Values(column=column, kind="numeric", values=oov)
        return features, messages
    images = [_pixels(v) for v in series]
    sizes = np.array([im.size for im in images])
    empty = int((sizes == 0).sum())
    if empty:
        messages.append(
            f"column {column!r}: {empty} rows have no image or not an array of numbers "
            "(counted as missing)"
        )
    means = np.array([im.mean() if im.size else np.nan for im in images], dtype=np.float64)
    stds = np.array([im.std() if im.size else np.nan for im in images], dtype=np.float64)
    all_pixels = np.concatenate(images) if images else np.empty(0, dtype=np.float64)
    per_row = float(sizes[sizes > 0].mean()) if (sizes > 0).any() else 1.0
    return {
        f"{column}.mean": _Values(column=column, kind="numeric", values=means),
        f"{column}.std": _Values(column=column, kind="numeric", values=stds),
        f"{column}.intensity": _Values(
            column=column, kind="numeric", values=all_pixels, values_per_row=per_row
        ),
    }, messages


def _profile_feature(
    values: _Values,
    n_rows: int,
    n_bins: int,
    max_categories: int,
    categories: list[str] | None = None,
) -> FeatureProfile:
    if values.kind == "categorical":
        if categories is None:
            categories = [c for c, _ in Counter(values.values).most_common(max_categories)]
        observed = category_counts(values.values, categories)
        return FeatureProfile(
            kind="categorical",
            column=values.column,
            categories=categories,
            proportions=proportions(observed).tolist(),
            n=n_rows,
        )
    array = np.asarray(values.values, dtype=np.float64)
    if values.values_per_row != 1.0:
        # Pixel intensities: fixed-width bins over the reference range (quantile bins of
        # mostly-zero pixels would collapse).
        present = array[~np.isnan(array)]
        low, high = (float(present.min()), float(present.max())) if present.size else (0.0, 1.0)
        edges = np.unique(np.linspace(low, high, n_bins + 1)[1:-1]) if high > low else np.empty(0)
    else:
        edges = quantile_edges(array, n_bins)
    return FeatureProfile(
        kind="numeric",
        column=values.column,
        edges=edges.tolist(),
        proportions=proportions(bin_counts(array, edges)).tolist(),
        n=n_rows,
        values_per_row=values.values_per_row,
    )


def _prediction_values(predictions: pd.DataFrame) -> tuple[list[str], _Values, _Values]:
    classes = [str(c) for c in predictions.columns]
    proba = predictions.to_numpy(dtype=np.float64)
    top = proba.argmax(axis=1) if proba.size else np.empty(0, dtype=np.int64)
    mix = _Values(column=PREDICTION_COLUMN, kind="categorical", values=[classes[i] for i in top])
    confidence = _Values(
        column=PREDICTION_COLUMN,
        kind="numeric",
        values=proba.max(axis=1) if proba.size else np.empty(0, dtype=np.float64),
    )
    return classes, mix, confidence


def build_profile(
    frame: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
    *,
    kinds: Mapping[str, ColumnKind] | None = None,
    ignore: Iterable[str] = DEFAULT_IGNORED,
    n_bins: int = 10,
    max_categories: int = 50,
    max_vocabulary: int = 5000,
) -> ReferenceProfile:
    """Profile training data (and the model's predictions on it) as the drift reference.

    Args:
        frame: The training rows.
        predictions: Class probabilities, one column per class, one row per row of
            `frame`; out-of-fold or holdout predictions (see the module docstring).
        kinds: Columns to profile and how; inferred with `infer_kind` when None.
        ignore: Columns never profiled when kinds are inferred (ids, bookkeeping).
        n_bins: Quantile bins per numeric feature.
        max_categories: Categories kept per categorical column (the rest count as unseen).
        max_vocabulary: Most frequent words kept per text column.

    Returns:
        The profile, ready for `model_dump_json()`.
    """
    if frame.empty:
        raise ValueError("cannot build a reference profile from an empty frame")
    if kinds is None:
        skipped = set(ignore)
        inferred = {
            str(c): infer_kind(frame[c], max_categories) for c in frame.columns if c not in skipped
        }
        columns: dict[str, ColumnKind] = {c: k for c, k in inferred.items() if k is not None}
    else:
        missing = [c for c in kinds if c not in frame.columns]
        if missing:
            raise ValueError(f"columns to profile not in the frame: {missing}")
        columns = dict(kinds)
    n_rows = len(frame)
    features: dict[str, FeatureProfile] = {}
    vocabularies: dict[str, list[str]] = {}
    numeric = _numeric_block(frame, [c for c, k in columns.items() if k == "numeric"])
    for column, kind in columns.items():
        vocabulary: set[str] | None = None
        if kind == "text":
            counts = Counter(t for v in frame[column] for t in tokens(v))
            vocabularies[column] = [t for t, _ in counts.most_common(max_vocabulary)]
            vocabulary = set(vocabularies[column])
        values, _ = _column_values(column, kind, frame, vocabulary, numeric.get(column))
        for name, feature_values in values.items():
            features[name] = _profile_feature(feature_values, n_rows, n_bins, max_categories)
    if predictions is not None and len(predictions) != n_rows:
        raise ValueError(f"predictions have {len(predictions)} rows, the frame {n_rows}")
    skipped = set(ignore)
    return ReferenceProfile(
        n_rows=n_rows,
        columns=columns,
        features=features,
        vocabularies=vocabularies,
        predictions=prediction_profile(predictions, n_bins) if predictions is not None else None,
        other_columns=[str(c) for c in frame.columns if c not in columns and str(c) not in skipped],
    )


def prediction_profile(
    predictions: pd.DataFrame, n_bins: int = 10, labels: Sequence[str] | None = None
) -> PredictionProfile:
    """The prediction section of a profile: class mix and confidence of the model's
    probabilities.

    Build it from predictions on data the model did not fit (out-of-fold or holdout rows;
    see the module docstring); they may cover fewer rows than the data section.

    Args:
        predictions: Class probabilities, one column per class in the model's order.
        n_bins: Quantile bins of the confidence.
        labels: The rows' labels, in the same order: the section then also says how
            often the model was right at each confidence (`reliability_bins`).

    Returns:
        The section, ready for ``ReferenceProfile(predictions=...)``.
    """
    if predictions.empty:
        raise ValueError("cannot profile predictions from an empty frame")
    if labels is not None and len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels for {len(predictions)} predicted rows")
    n_rows = len(predictions)
    classes, mix, confidence = _prediction_values(predictions)
    reliability = (
        reliability_bins(
            confidence.values, [str(p) == str(t) for p, t in zip(mix.values, labels, strict=True)]
        )
        if labels is not None
        else []
    )
    return PredictionProfile(
        classes=classes,
        # Every class, predicted or not, in the model's order.
        class_mix=_profile_feature(mix, n_rows, n_bins, len(classes), categories=classes),
        confidence=_profile_feature(confidence, n_rows, n_bins, len(classes)),
        reliability=reliability,
    )


def _counts(profile: FeatureProfile, values: _Values) -> npt.NDArray[np.float64]:
    if profile.kind == "categorical":
        return category_counts(list(values.values), profile.categories)
    return bin_counts(values.values, profile.edges)


def _batch_features(
    profile: ReferenceProfile,
    batch: pd.DataFrame,
    predictions: pd.DataFrame | None,
    messages: list[str],
) -> dict[str, tuple[FeatureProfile, npt.NDArray[np.float64]]]:
    """Pairs (reference, batch counts in the reference's bins) of every feature both sides have."""
    pairs: dict[str, tuple[FeatureProfile, npt.NDArray[np.float64]]] = {}
    batch_columns = set(batch.columns)
    present = [c for c in profile.columns if c in batch_columns]
    numeric = _numeric_block(batch, [c for c in present if profile.columns[c] == "numeric"])
    # Numeric columns with a numeric dtype are binned together, in one vectorised pass.
    block = [c for c in numeric if c in profile.features]
    if block:
        counts = bin_counts_matrix(
            np.column_stack([numeric[c] for c in block]), [profile.features[c].edges for c in block]
        )
        pairs.update({c: (profile.features[c], counts[i]) for i, c in enumerate(block)})
    for column in present:
        if column in pairs:
            continue
        kind = profile.columns[column]
        vocabulary = profile.vocabularies.get(column)
        if kind == "text" and vocabulary is None:
            messages.append(
                f"profile has no vocabulary for text column {column!r}: {column}.oov not checked"
            )
        values, column_messages = _column_values(
            column,
            kind,
            batch,
            set(vocabulary) if vocabulary is not None else None,
            numeric.get(column),
        )
        messages.extend(column_messages)
        for name, feature_values in values.items():
            reference = profile.features.get(name)
            if reference is None:
                messages.append(
                    f"profile has no feature {name!r} for column {column!r}: not checked"
                )
                continue
            pairs[name] = (reference, _counts(reference, feature_values))
    if predictions is None:
        return pairs
    if profile.predictions is None:
        messages.append(
            "profile has no prediction section: the model's predictions were not checked"
        )
        return pairs
    if len(predictions) != len(batch):
        messages.append(
            f"predictions have {len(predictions)} rows but the batch has {len(batch)}: not checked"
        )
        return pairs
    classes = [str(c) for c in predictions.columns]
    if sorted(classes) != sorted(profile.predictions.classes):
        messages.append(
            f"predicted classes {classes} differ from the profile's {profile.predictions.classes}: "
            "predictions not checked"
        )
        return pairs
    class_mix, confidence_profile = profile.predictions.class_mix, profile.predictions.confidence
    proba = predictions.to_numpy(dtype=np.float64)
    # Arg-max per row, counted in the profile's class order (+ the empty "unseen" bucket).
    order = np.array([class_mix.categories.index(c) for c in classes], dtype=np.int64)
    mix_counts = np.bincount(order[proba.argmax(axis=1)], minlength=len(class_mix.categories) + 1)
    pairs[f"{PREDICTION_COLUMN}.class"] = (class_mix, mix_counts.astype(np.float64))
    pairs[f"{PREDICTION_COLUMN}.confidence"] = (
        confidence_profile,
        bin_counts(proba.max(axis=1), confidence_profile.edges),
    )
    return pairs


def not_checked(n_rows: int, reason: str, thresholds: DriftThresholds | None = None) -> DriftReport:
    """The report of a batch that could not be compared, saying why (never drift).

    Args:
        n_rows: Rows in the batch.
        reason: Why nothing was compared, for a person reading the report.
        thresholds: The thresholds that would have applied.

    Returns:
        A report with ``checked=False``, ``drifted=False`` and the reason as its message.
    """
    return DriftReport(
        n_rows=n_rows,
        checked=False,
        drifted=False,
        thresholds=thresholds or DriftThresholds(),
        messages=[reason],
    )


def compare(
    profile: ReferenceProfile | None,
    batch: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Compare a batch (and the model's predictions on it) with the reference profile.

    Never raises on a mismatch between batch and profile: columns on one side only, a
    missing profile or profile section, an empty or small batch all end up as messages in
    the report, and none of them counts as drift.

    Args:
        profile: The champion's reference profile; None for a model trained without one.
        batch: The cleansed rows.
        predictions: The model's class probabilities on the batch, one column per class.
        thresholds: Drift thresholds; `DriftThresholds()` defaults when None.

    Returns:
        The per-feature statistics, the drifted columns and the messages.
    """
    limits = thresholds or DriftThresholds()
    messages: list[str] = []
    n_rows = len(batch)
    if profile is None:
        return not_checked(
            n_rows,
            "no reference profile for this model (trained before monitoring): drift not checked",
            limits,
        )
    if n_rows == 0:
        return not_checked(0, "empty batch: nothing compared", limits)
    known = {*profile.columns, *profile.other_columns, *DEFAULT_IGNORED}
    unknown = [str(c) for c in batch.columns if c not in known]
    if unknown:
        messages.append(f"columns not in the reference profile, not checked: {unknown}")
    absent = [c for c in profile.columns if c not in batch.columns]
    if absent:
        messages.append(f"reference columns missing from the batch, not checked: {absent}")
    pairs = _batch_features(profile, batch, predictions, messages)
    if not pairs:
        messages.append("no feature in common with the reference profile: nothing compared")
        return DriftReport(
            n_rows=n_rows, checked=False, drifted=False, thresholds=limits, messages=messages
        )

    names = list(pairs)
    width = max(len(reference.proportions) for reference, _ in pairs.values())
    expected = np.zeros((len(names), width))
    reference_counts = np.zeros((len(names), width))
    current_counts = np.zeros((len(names), width))
    for row, name in enumerate(names):
        reference, counts = pairs[name]
        p = np.asarray(reference.proportions, dtype=np.float64)
        expected[row, : p.size] = p
        # Tests count rows: values that come many to a row (pixels) are scaled down.
        current_counts[row, : counts.size] = counts / reference.values_per_row
        reference_counts[row, : p.size] = p * reference.n
    drift_psi = psi(expected, current_counts, floor=limits.floor)
    statistic, p_value, dof = chi_square_homogeneity(reference_counts, current_counts)
    alpha_per_test = limits.alpha / len(names)
    decide = n_rows >= limits.min_rows
    if not decide:
        messages.append(
            f"batch of {n_rows} rows is below min_rows={limits.min_rows}: "
            "statistics shown, no drift decided"
        )
    drifted = (drift_psi >= limits.psi) & (p_value < alpha_per_test) & decide
    features = [
        # Values computed here, already of the right types: no validation pass needed.
        FeatureDrift.model_construct(
            feature=name,
            column=pairs[name][0].column,
            kind=pairs[name][0].kind,
            psi=value,
            chi_square=chi,
            p_value=p,
            dof=d,
            drifted=flag,
        )
        for name, value, chi, p, d, flag in zip(
            names,
            drift_psi.tolist(),
            statistic.tolist(),
            p_value.tolist(),
            dof.tolist(),
            drifted.tolist(),
            strict=True,
        )
    ]
    drifted_columns = list(dict.fromkeys(f.column for f in features if f.drifted))
    return DriftReport(
        n_rows=n_rows,
        checked=True,
        drifted=bool(drifted_columns),
        drifted_columns=drifted_columns,
        features=features,
        alpha_per_test=alpha_per_test,
        thresholds=limits,
        messages=messages,
    )


def report_markdown(report: DriftReport, top: int = 15) -> str:
    """A drift report as markdown for a Prefect artifact.

    Args:
        report: The report from `compare`.
        top: How many features to list (drifted first, then by PSI).

    Returns:
        Markdown text: verdict, messages, and a table of the features.
    """
    verdict = "**drifted**: " + ", ".join(report.drifted_columns) if report.drifted else "no drift"
    if not report.checked:
        verdict = "not checked"
    lines = [
        f"# Drift report: {verdict}",
        "",
        f"{report.n_rows} rows, {len(report.features)} features tested",
    ]
    if report.alpha_per_test is not None:
        lines.append(
            f"(PSI >= {report.thresholds.psi} and p < {report.alpha_per_test:.2e} = "
            f"{report.thresholds.alpha} / {len(report.features)})"
        )
    lines.extend(f"- {m}" for m in report.messages)
    ordered = sorted(report.features, key=lambda f: (not f.drifted, -f.psi))[:top]
    if ordered:
        lines += ["", "| feature | PSI | chi-square | p-value | drifted |", "|---|---|---|---|---|"]
        lines += [
            f"| {f.feature} | {f.psi:.3f} | {f.chi_square:.1f} (dof {f.dof}) | {f.p_value:.2e} | "
            f"{'yes' if f.drifted else ''} |"
            for f in ordered
        ]
    return "\n".join(lines) + "\n"


class DriftRecord(BaseModel):
    """A batch's drift report with what it is about: saved per batch, one JSON document."""

    dataset: str
    batch_id: str
    model_name: str
    model_version: str | None = Field(
        default=None, description="The champion compared with; None when there was none."
    )
    checked_at: datetime
    report: DriftReport


def record_markdown(record: DriftRecord, top: int = 15) -> str:
    """A batch's drift record as markdown for a Prefect artifact: context, then the report.

    Args:
        record: The record.
        top: How many features the table lists.

    Returns:
        Markdown text.
    """
    champion = (
        f"champion {record.model_name} {record.model_version}"
        if record.model_version
        else f"no champion of {record.model_name}"
    )
    context = (
        f"Data set `{record.dataset}`, batch `{record.batch_id}`, {champion}, "
        f"checked {record.checked_at.isoformat(timespec='seconds')}."
    )
    title, _, rest = report_markdown(record.report, top).partition("\n")
    return f"{title}\n\n{context}\n{rest}"


def feature_names(profile: ReferenceProfile) -> Sequence[str]:
    """Every feature the profile can compare, predictions included."""
    names = list(profile.features)
    if profile.predictions is not None:
        names += [f"{PREDICTION_COLUMN}.class", f"{PREDICTION_COLUMN}.confidence"]
    return names
