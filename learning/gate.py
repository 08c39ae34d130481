"""The promotion gate: does a newly trained model (the challenger) replace the champion?

Pure decision. With a champion it is paired: both models' predictions on the same
compared items, each by a model that never trained on the item (see
:func:`learning.training.pair_with_champion`), so the noise of the items they share
cancels and only the items where exactly one of them is right count.

- **Accuracy, McNemar.** ``b`` items only the challenger gets right, ``c`` only the
  champion; the accuracy difference is ``(b - c) / n``. Given the ``b + c`` discordant
  items, ``b`` is binomial with p = 1/2 when the models are equally accurate, so the
  exact (Clopper-Pearson) interval of p at ``confidence`` gives the interval of the
  difference, ``(b + c) / n * (2p - 1)``, and it excludes 0 exactly when McNemar's
  exact test rejects at ``1 - confidence`` (two-sided). Exact and deterministic at the
  20-100 items a round of labelling gives; a bootstrap of macro-F1 is neither there
  (few discordant items, a resampled F1 jumps by whole items), and a class that
  collapses is caught by the per-class check below rather than by an average.
- **Three outcomes.** The interval above ``min_improvement``: clearly better, promoted.
  Below ``-max_regression``: clearly worse, refused. Otherwise there is no evidence of a
  difference: the challenger is promoted when it was trained on more labels than the
  champion with the same pipeline (same features and estimator, more labels: not
  expected to be worse); the champion stays otherwise (fewer labels, or a changed
  pipeline, which has to show it is better).
- **Per-class regressions.** For each class with at least ``min_class_support``
  compared items: the same paired test on its items (its recall), at ``confidence``
  corrected for the number of classes judged (Bonferroni). A class whose score drops by
  more than ``class_tolerance`` AND whose items show the challenger significantly worse
  refuses the challenger, even a clearly better one.
- **First model** (no champion): promoted only if it beats the majority-class baseline
  on its evaluated items by at least ``min_improvement`` (strictly).
- **Not comparable** (no item the champion never trained on): the champion stays.

The first of the decision's ``reasons`` is its ``summary``, the line a person reads.
"""

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.stats import binomtest

from learning.evaluation import Metrics, compute_metrics

_EPS = 1e-9

ScoreName = Literal["accuracy", "macro_f1"]
ClassScoreName = Literal["precision", "recall", "f1"]
Outcome = Literal[
    "better", "worse", "no_evidence", "class_regression", "not_comparable", "first_model"
]


class GateConfig(BaseModel):
    """Thresholds of the promotion gate (defaults: see ``benchmarks/gate.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: ScoreName = Field(
        default="macro_f1",
        description="Score a first model must beat the majority-class baseline on; also reported",
    )
    min_improvement: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description=(
            "Clearly better: the lower end of the paired accuracy interval above this. For a "
            "first model: the margin over the majority-class baseline"
        ),
    )
    max_regression: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Clearly worse: the upper end of the paired accuracy interval below minus this",
    )
    confidence: float = Field(
        default=0.8,
        gt=0.5,
        lt=1.0,
        description="Two-sided confidence of the paired intervals (one side errs at half the rest)",
    )
    class_metric: ClassScoreName = Field(
        default="recall", description="Per-class score checked for regressions"
    )
    class_tolerance: float = Field(
        default=0.05, ge=0.0, le=1.0, description="Largest allowed drop of one class's score"
    )
    min_class_support: int = Field(
        default=5,
        ge=1,
        description=(
            "Compared items of a class needed before it is judged; a drop must also be "
            "significant on its items, so this only spares the test on a handful."
        ),
    )


class PairedOutcomes(BaseModel):
    """Both models' predictions on the same compared items."""

    model_config = ConfigDict(frozen=True)

    item_ids: list[str]
    truth: list[str]
    new: list[str] = Field(description="The challenger's prediction per item")
    champion: list[str] = Field(description="The champion's prediction per item")
    champion_refitted: int = Field(
        default=0,
        ge=0,
        description=(
            "Items the champion trained on, predicted by its pipeline refitted without them"
        ),
    )

    @model_validator(mode="after")
    def _same_items(self) -> "PairedOutcomes":
        sizes = {len(self.item_ids), len(self.truth), len(self.new), len(self.champion)}
        if len(sizes) != 1:
            raise ValueError(
                f"paired outcomes need one value per item: item_ids {len(self.item_ids)}, "
                f"truth {len(self.truth)}, new {len(self.new)}, champion {len(self.champion)}"
            )
        if self.champion_refitted > len(self.item_ids):
            raise ValueError(
                f"champion_refitted {self.champion_refitted} is more than the "
                f"{len(self.item_ids)} paired items"
            )
        return self

    @property
    def n_items(self) -> int:
        """Compared items."""
        return len(self.item_ids)


class PairedDifference(BaseModel):
    """The challenger's accuracy minus the champion's on paired items, with its interval."""

    n_items: int
    new_only: int = Field(description="Items only the challenger got right")
    champion_only: int = Field(description="Items only the champion got right")
    difference: float
    lower: float
    upper: float
    confidence: float
    p_value: float = Field(description="McNemar's exact test, two-sided")

    def describe(self, what: str = "accuracy") -> str:
        """``accuracy diff +0.012 [-0.021, +0.045] on 64 paired items``."""
        return (
            f"{what} diff {self.difference:+.3f} [{self.lower:+.3f}, {self.upper:+.3f}] "
            f"on {self.n_items} paired items"
        )


class ChampionComparison(BaseModel):
    """What the gate compares a challenger with the champion on."""

    model_config = ConfigDict(frozen=True)

    outcomes: PairedOutcomes
    new_labels: int = Field(ge=0, description="Labels the challenger was trained on")
    champion_labels: int = Field(ge=0, description="Labels the champion was trained on")
    same_pipeline: bool = Field(
        description=(
            "The challenger's features and estimator are the champion's (only the labels "
            "differ): without evidence, only such a challenger is presumed no worse"
        )
    )


class GateDecision(BaseModel):
    """The outcome of the gate and why."""

    promote: bool
    metric: ScoreName
    new_score: float
    reference: Literal["champion", "majority_baseline"]
    reference_score: float | None = Field(description="None when nothing was comparable")
    reasons: list[str] = Field(description="One line per check: the summary, then the details")
    outcome: Outcome | None = Field(default=None, description="Which rule decided")
    summary: str = Field(default="", description="The line a person reads")
    paired: PairedDifference | None = Field(
        default=None, description="The paired accuracy difference (with a champion)"
    )
    new_labels: int | None = None
    champion_labels: int | None = None


def majority_baseline(metrics: Metrics, metric: ScoreName) -> float:
    """Score of always predicting the most frequent true class on the same items.

    Args:
        metrics: any metrics on the evaluated items (only the true-class counts are used).
        metric: accuracy or macro_f1.

    Returns:
        The baseline score.
    """
    supports = [metrics.per_class[label].support for label in metrics.labels]
    n = sum(supports)
    share = max(supports) / n
    if metric == "accuracy":
        return share
    n_true_classes = sum(1 for s in supports if s > 0)
    # Majority class: precision = share, recall = 1; every other true class scores 0.
    return (2 * share / (1 + share)) / n_true_classes


def paired_difference(
    new_correct: Sequence[bool], champion_correct: Sequence[bool], confidence: float
) -> PairedDifference:
    """Accuracy difference of two models on the same items, McNemar's exact interval.

    Args:
        new_correct: per item, whether the challenger was right.
        champion_correct: per item, whether the champion was right (same order).
        confidence: two-sided confidence of the interval.

    Returns:
        The difference, its interval (conditional on the discordant items) and the
        two-sided exact p-value. No discordant item: the interval is [0, 0], p = 1.

    Raises:
        ValueError: the two sequences differ in length.
    """
    new = np.asarray(new_correct, dtype=bool)
    old = np.asarray(champion_correct, dtype=bool)
    if new.shape != old.shape:
        raise ValueError(f"paired correctness differs in length: {new.shape} vs {old.shape}")
    n = int(new.size)
    b = int(np.sum(new & ~old))
    c = int(np.sum(old & ~new))
    discordant = b + c
    if discordant == 0:
        return PairedDifference(
            n_items=n, new_only=0, champion_only=0, difference=0.0, lower=0.0, upper=0.0,
            confidence=confidence, p_value=1.0,
        )
    test = binomtest(b, discordant, 0.5)
    interval = test.proportion_ci(confidence_level=confidence, method="exact")
    share = discordant / n
    return PairedDifference(
        n_items=n,
        new_only=b,
        champion_only=c,
        difference=(b - c) / n,
        lower=share * (2 * interval.low - 1),
        upper=share * (2 * interval.high - 1),
        confidence=confidence,
        p_value=float(test.pvalue),
    )


def decide_promotion(
    new: Metrics, champion: ChampionComparison | None = None, config: GateConfig | None = None
) -> GateDecision:
    """Decide whether the challenger replaces the champion.

    Args:
        new: the challenger's metrics on its evaluated items (compared with the
            majority baseline when there is no champion; reported otherwise).
        champion: both models' predictions on the compared items and the label counts,
            or None when there is no champion yet.
        config: thresholds; defaults of :class:`GateConfig` if None.

    Returns:
        The decision; ``reasons[0]`` is its summary.
    """
    cfg = config or GateConfig()
    if champion is None:
        return _first_model(new, cfg)
    outcomes = champion.outcomes
    counts = {"new_labels": champion.new_labels, "champion_labels": champion.champion_labels}
    if outcomes.n_items == 0:
        summary = (
            "not promoted: not comparable, the champion was trained on every evaluated item "
            "(label new items before retraining)"
        )
        return GateDecision(
            promote=False,
            metric=cfg.metric,
            new_score=_score(new, cfg.metric),
            reference="champion",
            reference_score=None,
            reasons=[summary],
            outcome="not_comparable",
            summary=summary,
            **counts,
        )
    ids = outcomes.item_ids
    new_metrics = compute_metrics(outcomes.truth, outcomes.new, "fixed_model", ids)
    old_metrics = compute_metrics(outcomes.truth, outcomes.champion, "fixed_model", ids)
    truth = np.asarray(outcomes.truth)
    new_correct = np.asarray(outcomes.new) == truth
    old_correct = np.asarray(outcomes.champion) == truth
    paired = paired_difference(new_correct, old_correct, cfg.confidence)
    regressed, class_notes = _class_regressions(
        truth, new_correct, old_correct, new_metrics, old_metrics, cfg
    )
    labels_note = f"trained on {champion.new_labels} labels vs {champion.champion_labels}"
    if not champion.same_pipeline:
        labels_note += " with another pipeline (features or estimator changed)"
    described = paired.describe()
    outcome: Outcome
    if paired.upper < -cfg.max_regression - _EPS:
        outcome, promote = "worse", False
        summary = f"not promoted: worse than the champion ({described})"
    elif regressed:
        outcome, promote = "class_regression", False
        summary = (
            f"not promoted: class {cfg.class_metric} regressed ({'; '.join(regressed)}), "
            f"{described}"
        )
    elif paired.lower > cfg.min_improvement + _EPS:
        outcome, promote = "better", True
        summary = f"promoted: better than the champion ({described})"
    else:
        outcome = "no_evidence"
        promote = champion.same_pipeline and champion.new_labels > champion.champion_labels
        verdict = "promoted" if promote else "not promoted"
        summary = f"{verdict}: no evidence of a difference ({described}), {labels_note}"
    details = [
        f"{cfg.metric} {_score(new_metrics, cfg.metric):.4f} vs champion "
        f"{_score(old_metrics, cfg.metric):.4f} on the same {outcomes.n_items} items; "
        f"{paired.new_only} right only for the challenger, {paired.champion_only} only for the champion (McNemar exact p = {paired.p_value:.3g}, "
        f"{cfg.confidence:.0%} interval)",
        labels_note,
        *_refit_note(outcomes),
        *(f"class {cfg.class_metric} regressed: {line}" for line in regressed),
        *class_notes,
    ]
    return GateDecision(
        promote=promote,
        metric=cfg.metric,
        new_score=_score(new_metrics, cfg.metric),
        reference="champion",
        reference_score=_score(old_metrics, cfg.metric),
        reasons=[summary, *details],
        outcome=outcome,
        summary=summary,
        paired=paired,
        **counts,
    )


def _first_model(new: Metrics, cfg: GateConfig) -> GateDecision:
    new_score = _score(new, cfg.metric)
    reference_score = majority_baseline(new, cfg.metric)
    gain = new_score - reference_score
    line = (
        f"{cfg.metric} {new_score:.4f} vs {reference_score:.4f} for the majority-class baseline "
        f"(gain {gain:+.4f}, required >= {cfg.min_improvement:.4f} and > 0) on {new.n_items} items"
    )
    # Scores are floats: a gain within _EPS of a threshold counts as equal to it, so
    # 0.91 - 0.90 meets a 0.01 margin and a rounding-level "gain" is a tie.
    promote = gain > _EPS and gain >= cfg.min_improvement - _EPS
    summary = (
        f"promoted: first model, beats the majority-class baseline: {line}"
        if promote
        else f"not promoted: first model, does not beat the majority-class baseline: {line}"
    )
    return GateDecision(
        promote=promote,
        metric=cfg.metric,
        new_score=new_score,
        reference="majority_baseline",
        reference_score=reference_score,
        reasons=[summary],
        outcome="first_model",
        summary=summary,
    )


def _refit_note(outcomes: PairedOutcomes) -> list[str]:
    if not outcomes.champion_refitted:
        return []
    return [
        f"{outcomes.champion_refitted} of the {outcomes.n_items} items were in the champion's "
        "training set: predicted by its pipeline refitted without them"
    ]


def _score(metrics: Metrics, metric: ScoreName) -> float:
    return metrics.accuracy if metric == "accuracy" else metrics.macro_f1


def _class_regressions(
    truth: np.ndarray,
    new_correct: np.ndarray,
    old_correct: np.ndarray,
    new: Metrics,
    old: Metrics,
    cfg: GateConfig,
) -> tuple[list[str], list[str]]:
    """Classes whose score drops by more than the tolerance, significantly on their items.

    Returns:
        (regressions, notes): one line per regressed class, and the notes of the check.
    """
    judged = [
        label for label, scores in old.per_class.items()
        if scores.support >= cfg.min_class_support and label in new.per_class
    ]
    too_few = sorted(
        label
        for label, scores in old.per_class.items()
        if 0 < scores.support < cfg.min_class_support
    )
    # Bonferroni: the chance that any judged class looks worse by luck stays within the
    # gate's one-sided error.
    confidence = 1 - (1 - cfg.confidence) / max(len(judged), 1)
    regressed: list[str] = []
    for label in judged:
        before = getattr(old.per_class[label], cfg.class_metric)
        after = getattr(new.per_class[label], cfg.class_metric)
        if before - after <= cfg.class_tolerance + _EPS:
            continue
        mask = truth == label
        paired = paired_difference(new_correct[mask], old_correct[mask], confidence)
        if paired.upper < -_EPS:
            regressed.append(
                f"{label!r} {before:.3f} -> {after:.3f}, {paired.describe('recall')}"
            )
    notes = [
        f"classes judged: {len(judged)} (a {cfg.class_metric} drop > {cfg.class_tolerance:.3f} "
        f"that is significant on the class's items at {confidence:.1%} refuses)"
    ]
    if too_few:
        notes.append(
            f"classes with fewer than {cfg.min_class_support} compared items not judged: "
            f"{', '.join(repr(label) for label in too_few)}"
        )
    return regressed, notes
