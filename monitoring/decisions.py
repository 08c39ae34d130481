"""Pure monitoring decisions: drift and degradation events, live accuracy, disputed labels.

Events come out as `MonitoringEvent` (name, resource, payload) ready for
``prefect.events.emit_event(event=e.event, resource=e.resource, payload=e.payload)``.

Scores: live macro-F1 is `learning.evaluation.macro_f1` and per-class scores come from
`sklearn.metrics`; live accuracy gets the Wilson score interval, macro-F1 a percentile
bootstrap over the scored items (`scipy.stats.bootstrap`, see `monitoring.stats`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, Field
from sklearn.metrics import precision_recall_fscore_support

from learning.evaluation import macro_f1
from monitoring.profile import DriftReport, ReliabilityBin, reliability_bin_of
from monitoring.stats import bootstrap_macro_f1_interval, wilson_interval

DATA_DRIFTED = "labelloop.data.drifted"
MODEL_DEGRADED = "labelloop.model.degraded"


class MonitoringEvent(BaseModel):
    """An event ready for `prefect.events.emit_event`."""

    event: str
    resource: dict[str, str]
    payload: dict[str, Any] = Field(default_factory=dict)


def _resource(kind: str, name: str) -> dict[str, str]:
    return {"prefect.resource.id": f"labelloop.{kind}.{name}", "prefect.resource.name": name}


def drift_event(
    report: DriftReport,
    dataset: str,
    batch_id: str | None = None,
    *,
    model_version: str | None = None,
    report_key: str | None = None,
) -> MonitoringEvent | None:
    """The `labelloop.data.drifted` event for a drifted batch, None otherwise.

    Args:
        report: The batch's drift report.
        dataset: The dataset name (resource ``labelloop.dataset.<dataset>``).
        batch_id: The batch the report is about.
        model_version: The champion version the batch was compared with.
        report_key: Where the full report is kept (DataStore key).

    Returns:
        The event, with the drifted columns and, per column, its largest PSI and the PSI
        and p-value of each drifted feature; None when the batch did not drift.
    """
    if not report.drifted:
        return None
    columns: dict[str, dict[str, Any]] = {}
    for feature in report.drifted_features:
        entry = columns.setdefault(feature.column, {"psi": feature.psi, "features": {}})
        entry["psi"] = max(entry["psi"], feature.psi)
        entry["features"][feature.feature] = {
            "psi": round(feature.psi, 4),
            "p_value": feature.p_value,
        }
    for entry in columns.values():
        entry["psi"] = round(entry["psi"], 4)
    return MonitoringEvent(
        event=DATA_DRIFTED,
        resource=_resource("dataset", dataset),
        payload={
            "batch_id": batch_id,
            "rows": report.n_rows,
            "drifted_columns": report.drifted_columns,
            "columns": columns,
            "psi_threshold": report.thresholds.psi,
            "alpha_per_test": report.alpha_per_test,
            "model_version": model_version,
            "report_key": report_key,
        },
    )


class ClassScore(BaseModel):
    """One class's scores on the live items."""

    label: str
    support: int = Field(description="Live items with this human label.")
    predicted: int = Field(description="Live items the model gave this class.")
    precision: float
    recall: float
    f1: float


class LiveAccuracy(BaseModel):
    """The champion scored on freshly labelled items it was not trained on."""

    labels_version: str
    model_version: str | None = None
    n: int = Field(ge=0, description="Items scored.")
    correct: int = Field(ge=0)
    accuracy: float | None = None
    accuracy_interval: tuple[float, float] | None = Field(
        default=None, description="Wilson score interval."
    )
    macro_f1: float | None = None
    macro_f1_interval: tuple[float, float] | None = Field(
        default=None, description="Percentile bootstrap interval."
    )
    confidence: float = 0.95
    per_class: list[ClassScore] = Field(default_factory=list)
    reason: str | None = Field(default=None, description="Why nothing was scored, when n == 0.")


def unseen_labels(
    labels: pd.DataFrame, trained_item_ids: Iterable[str], item_column: str = "item_id"
) -> pd.DataFrame:
    """The labelled rows whose item the model was not trained on.

    Args:
        labels: A labels version (one row per item).
        trained_item_ids: The item ids in the model's training data.
        item_column: The item id column.

    Returns:
        The rows of `labels` the model never saw, in their order.
    """
    if item_column not in labels.columns:
        raise ValueError(f"labels have no {item_column!r} column (columns: {list(labels.columns)})")
    return labels[~labels[item_column].astype(str).isin(set(map(str, trained_item_ids)))]


def _per_class(y_true: list[str], y_pred: list[str]) -> list[ClassScore]:
    labels = sorted(set(y_true) | set(y_pred))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    predicted = Counter(y_pred)
    return [
        ClassScore(
            label=label,
            support=int(support[i]),
            predicted=predicted[label],
            precision=float(precision[i]),
            recall=float(recall[i]),
            f1=float(f1[i]),
        )
        for i, label in enumerate(labels)
    ]


def live_accuracy(
    y_true: Sequence[object],
    y_pred: Sequence[object],
    *,
    labels_version: str,
    model_version: str | None = None,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> LiveAccuracy:
    """Score the champion on the unseen labelled items of one labels version.

    Args:
        y_true: Human labels of the unseen items (see `unseen_labels`).
        y_pred: The champion's predictions for the same items.
        labels_version: The labels version scored.
        model_version: The champion's version.
        confidence: Level of both intervals.
        n_boot: Bootstrap resamples for the macro-F1 interval.
        seed: Bootstrap seed (reproducible reports).

    Returns:
        Accuracy (Wilson interval), macro-F1 (bootstrap interval), per-class scores and n;
        with no items, n == 0, no scores and a reason.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    if len(y_true) == 0:
        return LiveAccuracy(
            labels_version=labels_version,
            model_version=model_version,
            n=0,
            correct=0,
            confidence=confidence,
            reason=f"labels version {labels_version} has no items the champion was not trained on",
        )
    truth = [str(v) for v in y_true]
    predicted = [str(v) for v in y_pred]
    n = len(truth)
    correct = sum(t == p for t, p in zip(truth, predicted, strict=True))
    return LiveAccuracy(
        labels_version=labels_version,
        model_version=model_version,
        n=n,
        correct=correct,
        accuracy=correct / n,
        accuracy_interval=tuple(wilson_interval(correct, n, confidence)),
        macro_f1=macro_f1(truth, predicted),
        macro_f1_interval=tuple(
            bootstrap_macro_f1_interval(truth, predicted, confidence, n_boot=n_boot, seed=seed)
        ),
        confidence=confidence,
        per_class=_per_class(truth, predicted),
    )


class Degradation(BaseModel):
    """Whether the champion degraded, and why (or why not)."""

    degraded: bool
    reason: str


def expected_accuracy(
    confidence: Sequence[float], reliability: Sequence[ReliabilityBin]
) -> float | None:
    """The accuracy the champion had at training on items as sure as these.

    People label the items the push selected, the ones the champion is least sure of,
    where it is less accurate than on its random holdout. Each item counts with the
    accuracy of the reliability bin its confidence falls in (out-of-fold rows at
    training), so a change of which items are labelled is not read as a degraded model.

    Args:
        confidence: The champion's top class probability on each scored item.
        reliability: The bins of its reference profile (see `reliability_bins`).

    Returns:
        The mean expected accuracy; None without bins or items.
    """
    if not reliability or not len(confidence):
        return None
    uppers = np.array([b.upper for b in reliability])
    rates = np.array([b.correct / b.n for b in reliability])
    return float(rates[reliability_bin_of(uppers, confidence)].mean())


def degradation(
    live: LiveAccuracy,
    holdout_accuracy: float,
    margin: float,
    n_classes: int,
    expected: float | None = None,
) -> Degradation:
    """Decide whether live accuracy shows a degraded champion.

    Degraded when live accuracy is below ``reference - margin`` AND the Wilson
    interval of the live accuracy excludes chance (``1 / n_classes``), so a handful of
    items whose interval spans chance cannot raise the alarm. The reference is the
    accuracy expected on these items at their confidence (`expected_accuracy`) when
    known, else the holdout accuracy.

    Args:
        live: The live accuracy of one labels version.
        holdout_accuracy: The champion's accuracy on its holdout at training time.
        margin: How far below the reference live accuracy may fall before it counts.
        n_classes: Number of classes (chance level is 1 / n_classes).
        expected: `expected_accuracy` of the scored items (None: unknown).

    Returns:
        The decision with a sentence a person can read on the retrain run.
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    if live.n == 0 or live.accuracy is None or live.accuracy_interval is None:
        return Degradation(degraded=False, reason=live.reason or "no live items scored")
    chance = 1 / n_classes
    low, high = live.accuracy_interval
    floor = (holdout_accuracy if expected is None else expected) - margin
    against = (
        f"holdout {holdout_accuracy:.3f}"
        if expected is None
        else f"expected {expected:.3f} at these confidences (holdout {holdout_accuracy:.3f})"
    )
    summary = (
        f"live accuracy {live.accuracy:.3f} [{low:.3f}, {high:.3f}] on {live.n} items of labels "
        f"version {live.labels_version}, {against}, margin {margin:.3f}"
    )
    if live.accuracy >= floor:
        return Degradation(degraded=False, reason=f"{summary}: within the margin")
    if low <= chance <= high:
        return Degradation(
            degraded=False,
            reason=f"{summary}: interval includes chance {chance:.3f}, too few items to tell",
        )
    return Degradation(degraded=True, reason=f"{summary}: degraded")


def degraded_event(
    live: LiveAccuracy,
    holdout_accuracy: float,
    margin: float,
    n_classes: int,
    *,
    model: str,
    expected: float | None = None,
) -> MonitoringEvent | None:
    """The `labelloop.model.degraded` event when `degradation` says so, None otherwise.

    Args:
        live: The live accuracy of one labels version.
        holdout_accuracy: The champion's holdout accuracy.
        margin: Allowed drop below holdout.
        n_classes: Number of classes.
        model: Model name (resource ``labelloop.model.<model>``).
        expected: `expected_accuracy` of the scored items (None: unknown).

    Returns:
        The event (payload: reason, version, labels version, accuracy, interval,
        macro-F1, holdout, margin, n) or None.
    """
    decision = degradation(live, holdout_accuracy, margin, n_classes, expected)
    if not decision.degraded:
        return None
    return MonitoringEvent(
        event=MODEL_DEGRADED,
        resource=_resource("model", model),
        payload={
            "reason": decision.reason,
            "model_version": live.model_version,
            "labels_version": live.labels_version,
            "n": live.n,
            "accuracy": live.accuracy,
            "accuracy_interval": list(live.accuracy_interval or ()),
            "macro_f1": live.macro_f1,
            "holdout_accuracy": holdout_accuracy,
            "expected_accuracy": expected,
            "margin": margin,
        },
    )


class DisputedLabel(BaseModel):
    """A human label the model confidently disagrees with."""

    item_id: str
    label: str
    model_label: str = Field(description="The class the model prefers.")
    model_probability: float
    label_probability: float = Field(
        description="What the model gives the human label (0 if unknown)."
    )


def disputed(
    labels: pd.DataFrame,
    proba: npt.ArrayLike,
    classes: Sequence[object],
    threshold: float = 0.9,
    *,
    item_column: str = "item_id",
    label_column: str = "label",
) -> list[DisputedLabel]:
    """Items whose human label the model confidently disputes.

    An item is disputed when a class other than its human label gets probability >=
    `threshold`. A label the model does not know counts as probability 0.

    Args:
        labels: One row per item with `item_column` and `label_column`.
        proba: Model probabilities, shape (len(labels), len(classes)).
        classes: The classes in `proba`'s column order.
        threshold: Probability at which the model's disagreement counts.
        item_column: Item id column.
        label_column: Human label column.

    Returns:
        Disputed items, most confident dispute first.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    for column in (item_column, label_column):
        if column not in labels.columns:
            raise ValueError(f"labels have no {column!r} column (columns: {list(labels.columns)})")
    p = np.asarray(proba, dtype=np.float64)
    names = [str(c) for c in classes]
    if p.ndim != 2 or p.shape != (len(labels), len(names)):
        raise ValueError(f"proba has shape {p.shape}, expected ({len(labels)}, {len(names)})")
    index = {name: i for i, name in enumerate(names)}
    human = labels[label_column].astype(str).to_numpy()
    label_index = np.array([index.get(h, -1) for h in human], dtype=np.int64)
    rows = np.arange(len(labels))
    label_probability = np.where(label_index >= 0, p[rows, np.maximum(label_index, 0)], 0.0)
    others = p.copy()
    known = label_index >= 0
    others[rows[known], label_index[known]] = -1.0
    best = others.argmax(axis=1) if len(names) else np.zeros(len(labels), dtype=np.int64)
    best_probability = others[rows, best] if len(labels) else np.empty(0)
    hits = np.flatnonzero(best_probability >= threshold)
    hits = hits[np.argsort(-best_probability[hits], kind="stable")]
    items = labels[item_column].astype(str).to_numpy()
    return [
        DisputedLabel(
            item_id=items[i],
            label=human[i],
            model_label=names[best[i]],
            model_probability=float(best_probability[i]),
            label_probability=float(label_probability[i]),
        )
        for i in hits
    ]


def flag_disputed(
    labels: pd.DataFrame, disputes: Sequence[DisputedLabel], item_column: str = "item_id"
) -> pd.DataFrame:
    """The labels version with the model's disputes marked, for saving and review.

    Args:
        labels: The labels version.
        disputes: The output of `disputed` for these labels.
        item_column: Item id column.

    Returns:
        A copy of `labels` with `disputed` (bool), `disputed_by` (the model's class,
        missing when not disputed) and `dispute_probability` (float, NaN when not disputed).
    """
    by_item = {d.item_id: d for d in disputes}
    items = labels[item_column].astype(str)
    return labels.assign(
        disputed=items.map(lambda i: i in by_item).astype(bool),
        disputed_by=items.map(lambda i: by_item[i].model_label if i in by_item else None),
        dispute_probability=items.map(
            lambda i: by_item[i].model_probability if i in by_item else np.nan
        ).astype(float),
    )


class LiveAccuracySeries(BaseModel):
    """The champion's live accuracy over labels versions, as saved beside the registry."""

    model: str
    points: list[LiveAccuracy] = Field(default_factory=list)

    def with_point(self, point: LiveAccuracy) -> LiveAccuracySeries:
        """The series with `point` added; a rerun for the same labels version and model
        version replaces the earlier point instead of duplicating it."""
        kept = [
            p
            for p in self.points
            if (p.labels_version, p.model_version) != (point.labels_version, point.model_version)
        ]
        return self.model_copy(update={"points": [*kept, point]})


def trend_markdown(series: Sequence[LiveAccuracy], holdout_accuracy: float | None = None) -> str:
    """The live accuracy series as a markdown table with a bar per labels version.

    Args:
        series: Live accuracy per labels version, oldest first.
        holdout_accuracy: The champion's holdout accuracy, shown for reference.

    Returns:
        Markdown for a Prefect artifact.
    """
    lines = ["# Live accuracy of the champion"]
    if holdout_accuracy is not None:
        lines.append(f"Holdout accuracy at training: {holdout_accuracy:.3f}")
    lines += [
        "",
        "| labels version | model | n | accuracy | interval | macro-F1 | |",
        "|---|---|---|---|---|---|---|",
    ]
    for point in series:
        head = f"| {point.labels_version} | {point.model_version or ''} | {point.n} |"
        if point.accuracy is None or point.accuracy_interval is None:
            lines.append(f"{head} | | | {point.reason} |")
            continue
        low, high = point.accuracy_interval
        bar = "█" * round(point.accuracy * 20)
        interval = f"[{low:.3f}, {high:.3f}]"
        lines.append(f"{head} {point.accuracy:.3f} | {interval} | {point.macro_f1:.3f} | {bar} |")
    return "\n".join(lines) + "\n"
