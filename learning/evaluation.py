"""Evaluating a pipeline on the labels it was given.

Split rule (see :class:`EvaluationConfig`):

- Items whose label is unresolved (None, NaN, empty) are left out entirely.
- Fewer than two classes, or a class with fewer than ``min_per_class`` (default 2)
  labels: :class:`EvaluationError` (nothing can be scored honestly).
- At least ``holdout_min_items`` (default 200) labelled items AND every class with at
  least ``holdout_min_per_class`` (default 10) labels: one stratified holdout of
  ``test_size`` (default 20%). The champion is scored on the same holdout.
- Otherwise (few labels): stratified k-fold cross-validation, k = min(``max_folds``,
  smallest class count); every labelled item is predicted once by a model that did not
  see it, and metrics are computed over all of them.
"""

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sklearn.base import ClassifierMixin
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

Rows: TypeAlias = pd.DataFrame | NDArray[Any]


class EvaluationError(ValueError):
    """The labels cannot be evaluated (too few, a single class, inconsistent inputs)."""


class EvaluationConfig(BaseModel):
    """When to use a holdout and how big it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test_size: float = Field(default=0.2, gt=0.0, lt=0.5, description="Holdout fraction")
    holdout_min_items: int = Field(default=200, ge=2, description="Fewer labelled items: cross-validation")
    holdout_min_per_class: int = Field(default=10, ge=2, description="A smaller class: cross-validation")
    min_per_class: int = Field(default=2, ge=2, description="Fewer labels in a class: error")
    max_folds: int = Field(default=5, ge=2, description="Folds of cross-validation, at most")
    seed: int = Field(default=0, description="Seed of the split")


class EvaluationPlan(BaseModel):
    """Which labelled items train and test each fit; positions index the input rows."""

    method: Literal["holdout", "cross_validation"]
    folds: list[tuple[list[int], list[int]]] = Field(description="(train positions, test positions) per fit")

    @property
    def test_positions(self) -> list[int]:
        """Every position that is scored, sorted."""
        return sorted(p for _, test in self.folds for p in test)


class ClassMetrics(BaseModel):
    """Scores of one class on the evaluated items."""

    precision: float
    recall: float
    f1: float
    support: int = Field(description="True items of the class among the evaluated items")


class Metrics(BaseModel):
    """Scores of a model on a set of evaluated items."""

    method: Literal["holdout", "cross_validation", "fixed_model"]
    n_items: int
    accuracy: float
    macro_f1: float
    labels: list[str] = Field(description="Class order of the confusion matrix")
    per_class: dict[str, ClassMetrics]
    confusion_matrix: list[list[int]] = Field(description="Rows: true class, columns: predicted class")
    evaluated_digest: str | None = Field(
        default=None, description="sha256 of the sorted evaluated item ids: same value = same holdout"
    )

    @model_validator(mode="after")
    def _shape(self) -> "Metrics":
        k = len(self.labels)
        if len(self.confusion_matrix) != k or any(len(r) != k for r in self.confusion_matrix):
            raise ValueError(f"confusion_matrix must be {k}x{k} for labels {self.labels}")
        return self


def resolved_mask(labels: Sequence[Any]) -> NDArray[np.bool_]:
    """Which labels are resolved (not None, NaN or an empty/blank string).

    Args:
        labels: one label per item.

    Returns:
        Boolean mask, True where the label can be used.
    """
    return np.array([not _unresolved(v) for v in labels], dtype=bool)


def _unresolved(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def plan_evaluation(labels: Sequence[Any], config: EvaluationConfig | None = None) -> EvaluationPlan:
    """Decide holdout or cross-validation and draw the stratified split(s).

    Args:
        labels: one label per row; unresolved ones are left out of every fold.
        config: the split rule; defaults as documented in the module.

    Returns:
        The plan; positions refer to ``labels``.

    Raises:
        EvaluationError: a single class, or a class with too few labels.
    """
    cfg = config or EvaluationConfig()
    positions = np.flatnonzero(resolved_mask(labels))
    y = np.array([str(labels[i]) for i in positions])
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        found = f"only {str(classes[0])!r}" if len(classes) else "none"
        raise EvaluationError(f"need at least 2 classes among the {len(positions)} resolved labels, found {found}")
    small = [f"{str(c)!r} ({int(n)})" for c, n in zip(classes, counts, strict=True) if n < cfg.min_per_class]
    if small:
        raise EvaluationError(
            f"too few labels to evaluate: need at least {cfg.min_per_class} per class; "
            f"classes below: {', '.join(small)}"
        )
    if len(positions) >= cfg.holdout_min_items and counts.min() >= cfg.holdout_min_per_class:
        train, test = train_test_split(positions, test_size=cfg.test_size, stratify=y, random_state=cfg.seed)
        return EvaluationPlan(method="holdout", folds=[(sorted(train.tolist()), sorted(test.tolist()))])
    n_folds = int(min(cfg.max_folds, counts.min()))
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=cfg.seed)
    folds = [
        (sorted(positions[tr].tolist()), sorted(positions[te].tolist())) for tr, te in splitter.split(positions, y)
    ]
    return EvaluationPlan(method="cross_validation", folds=folds)


def compute_metrics(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    method: Literal["holdout", "cross_validation", "fixed_model"],
    item_ids: Sequence[str] | None = None,
) -> Metrics:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix.

    Args:
        y_true: true labels of the evaluated items.
        y_pred: predicted labels, same order.
        method: how the predictions were obtained (recorded in the result).
        item_ids: ids of the evaluated items, to fingerprint the holdout.

    Returns:
        The metrics; classes are the sorted union of true and predicted labels.

    Raises:
        EvaluationError: lengths differ or nothing to evaluate.
    """
    true = np.array([str(v) for v in y_true])
    pred = np.array([str(v) for v in y_pred])
    if len(true) != len(pred):
        raise EvaluationError(f"y_true has {len(true)} items but y_pred has {len(pred)}")
    if len(true) == 0:
        raise EvaluationError("no items to evaluate")
    if item_ids is not None and len(item_ids) != len(true):
        raise EvaluationError(f"item_ids has {len(item_ids)} items but y_true has {len(true)}")
    labels = sorted(set(true) | set(pred))
    precision, recall, f1, support = precision_recall_fscore_support(true, pred, labels=labels, zero_division=0)
    per_class = {
        label: ClassMetrics(precision=float(p), recall=float(r), f1=float(f), support=int(s))
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    return Metrics(
        method=method,
        n_items=len(true),
        accuracy=float(accuracy_score(true, pred)),
        macro_f1=macro_f1(true, pred),
        labels=labels,
        per_class=per_class,
        confusion_matrix=confusion_matrix(true, pred, labels=labels).tolist(),
        evaluated_digest=None if item_ids is None else holdout_digest(item_ids),
    )


def macro_f1(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Macro-F1: sklearn's ``f1_score(average="macro", zero_division=0)``, labels as strings.

    The one macro-F1 of labelloop (evaluation, the gate, live monitoring). It averages the
    per-class F1 over every class that occurs among the true OR the predicted labels
    (sklearn's default, no ``labels=`` argument): a class the model predicts that no
    evaluated item has scores F1 0 and counts, so a model that invents classes on these
    items is not rated as well as one that does not. Averaging over the true classes only
    would hide that; a fixed label set would make a handful of live items score 0 for
    every class they happen not to contain.

    Args:
        y_true: true labels.
        y_pred: predicted labels, same order.

    Returns:
        The unweighted mean of per-class F1; 0.0 for no items.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} vs {len(y_pred)}")
    if len(y_true) == 0:
        return 0.0
    true = [str(v) for v in y_true]
    pred = [str(v) for v in y_pred]
    return float(f1_score(true, pred, average="macro", zero_division=0))


def holdout_digest(item_ids: Sequence[str]) -> str:
    """Fingerprint of a set of evaluated items (order does not matter).

    Args:
        item_ids: ids of the evaluated items.

    Returns:
        Hex sha256 of the sorted ids.
    """
    return hashlib.sha256("\n".join(sorted(item_ids)).encode()).hexdigest()


def evaluate_pipeline(
    make_pipeline: Callable[[], Pipeline],
    rows: Rows,
    labels: Sequence[Any],
    item_ids: Sequence[str],
    config: EvaluationConfig | None = None,
) -> tuple[Metrics, EvaluationPlan]:
    """Fit fresh pipelines per the plan and score their predictions on unseen items.

    Args:
        make_pipeline: returns a new unfitted pipeline each call.
        rows: features input, one row per label (frame or array).
        labels: one label per row; unresolved ones are left out.
        item_ids: one id per row.
        config: the split rule.

    Returns:
        (metrics over the test positions, the plan used).

    Raises:
        EvaluationError: see :func:`plan_evaluation`, or lengths differ.
    """
    _check_lengths(rows, labels, item_ids)
    plan = plan_evaluation(labels, config)
    y = np.array([str(v) if not _unresolved(v) else "" for v in labels], dtype=object)
    true: list[str] = []
    pred: list[str] = []
    ids: list[str] = []
    for train, test in plan.folds:
        model = make_pipeline().fit(_take(rows, train), y[train].astype(str))
        pred.extend(str(v) for v in model.predict(_take(rows, test)))
        true.extend(y[test].astype(str).tolist())
        ids.extend(item_ids[i] for i in test)
    return compute_metrics(true, pred, plan.method, ids), plan


def score_model(
    model: ClassifierMixin | Pipeline,
    rows: Rows,
    labels: Sequence[Any],
    item_ids: Sequence[str],
    positions: Sequence[int],
) -> Metrics:
    """Score an already fitted model (the champion) on the given positions.

    Args:
        model: a fitted classifier or pipeline.
        rows: features input, one row per label.
        labels: one label per row.
        item_ids: one id per row.
        positions: rows to score, e.g. ``plan.test_positions``; unresolved ones are
            skipped.

    Returns:
        Metrics with method ``fixed_model`` and the holdout fingerprint.
    """
    _check_lengths(rows, labels, item_ids)
    mask = resolved_mask(labels)
    keep = [int(p) for p in positions if mask[p]]
    pred = model.predict(_take(rows, keep))
    return compute_metrics(
        [str(labels[p]) for p in keep], [str(v) for v in pred], "fixed_model", [item_ids[p] for p in keep]
    )


def _take(rows: Rows, positions: Sequence[int]) -> Rows:
    idx = np.asarray(positions, dtype=np.intp)
    return rows.iloc[idx] if isinstance(rows, pd.DataFrame) else np.asarray(rows)[idx]


def _check_lengths(rows: Rows, labels: Sequence[Any], item_ids: Sequence[str]) -> None:
    if not (len(rows) == len(labels) == len(item_ids)):
        raise EvaluationError(
            f"rows ({len(rows)}), labels ({len(labels)}) and item_ids ({len(item_ids)}) must have the same length"
        )
