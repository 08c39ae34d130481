"""The promotion gate: does a newly trained model replace the champion?

Pure decision over :class:`~learning.evaluation.Metrics` computed on the same
evaluated items:

- With a champion: promoted only if the new score beats the champion's by at least
  ``min_improvement`` (and strictly, so a tie never churns the champion), and no class
  present in both loses more than ``class_tolerance`` of its per-class score.
- Without a champion (the first model): promoted only if it beats the majority-class
  baseline on the same items by at least ``min_improvement`` (strictly).
- Metrics from different evaluated items (fingerprints differ) are never compared:
  not promoted.

Every check that fails adds a reason; the decision lists the passing checks too.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from learning.evaluation import Metrics

_EPS = 1e-9

ScoreName = Literal["accuracy", "macro_f1"]
ClassScoreName = Literal["precision", "recall", "f1"]


class GateConfig(BaseModel):
    """Thresholds of the promotion gate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: ScoreName = Field(default="macro_f1", description="Overall score compared")
    min_improvement: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Margin the new model must win by"
    )
    class_metric: ClassScoreName = Field(
        default="recall", description="Per-class score checked for regressions"
    )
    class_tolerance: float = Field(
        default=0.05, ge=0.0, le=1.0, description="Largest allowed drop of one class's score"
    )
    min_class_support: int = Field(
        default=20,
        ge=1,
        description=(
            "Items of a class the comparison needs before its drop counts: with fewer, one item "
            "moves the score by more than the tolerance, so a drop there is noise."
        ),
    )


class GateDecision(BaseModel):
    """The outcome of the gate and why."""

    promote: bool
    metric: ScoreName
    new_score: float
    reference: Literal["champion", "majority_baseline"]
    reference_score: float
    reasons: list[str] = Field(description="One line per check, failing checks first")


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


def decide_promotion(
    new: Metrics, champion: Metrics | None, config: GateConfig | None = None
) -> GateDecision:
    """Decide whether ``new`` replaces ``champion``.

    Args:
        new: metrics of the new model.
        champion: metrics of the current champion on the same items, or None when
            there is no champion yet.
        config: thresholds; defaults of :class:`GateConfig` if None.

    Returns:
        The decision with one reason per check.
    """
    cfg = config or GateConfig()
    new_score = _score(new, cfg.metric)
    failures: list[str] = []
    passes: list[str] = []

    if champion is None:
        reference: Literal["champion", "majority_baseline"] = "majority_baseline"
        reference_score = majority_baseline(new, cfg.metric)
        _check_improvement(
            new_score, reference_score, "the majority-class baseline", cfg, failures, passes
        )
        return GateDecision(
            promote=not failures,
            metric=cfg.metric,
            new_score=new_score,
            reference=reference,
            reference_score=reference_score,
            reasons=failures + passes,
        )

    reference_score = _score(champion, cfg.metric)
    if (
        new.evaluated_digest is not None
        and champion.evaluated_digest is not None
        and new.evaluated_digest != champion.evaluated_digest
    ) or new.n_items != champion.n_items:
        failures.append(
            f"not comparable: the new model ({new.n_items} items) and the champion ({champion.n_items} items) "
            "were not scored on the same evaluated items"
        )
    else:
        _check_improvement(new_score, reference_score, "the champion", cfg, failures, passes)
        _check_classes(new, champion, cfg, failures, passes)
    return GateDecision(
        promote=not failures,
        metric=cfg.metric,
        new_score=new_score,
        reference="champion",
        reference_score=reference_score,
        reasons=failures + passes,
    )


def _score(metrics: Metrics, metric: ScoreName) -> float:
    return metrics.accuracy if metric == "accuracy" else metrics.macro_f1


def _check_improvement(
    new_score: float,
    reference_score: float,
    what: str,
    cfg: GateConfig,
    failures: list[str],
    passes: list[str],
) -> None:
    gain = new_score - reference_score
    line = f"{cfg.metric} {new_score:.4f} vs {reference_score:.4f} for {what} (gain {gain:+.4f}, required >= {cfg.min_improvement:.4f} and > 0)"
    # Scores are floats: a gain within _EPS of a threshold counts as equal to it, so
    # 0.91 - 0.90 meets a 0.01 margin and a rounding-level "gain" is a tie.
    if gain > _EPS and gain >= cfg.min_improvement - _EPS:
        passes.append(f"beats {what}: {line}")
    else:
        failures.append(f"does not beat {what}: {line}")


def _check_classes(
    new: Metrics, champion: Metrics, cfg: GateConfig, failures: list[str], passes: list[str]
) -> None:
    regressed = []
    too_few = []
    for label, old in champion.per_class.items():
        if old.support == 0 or label not in new.per_class:
            continue
        if old.support < cfg.min_class_support:
            too_few.append(label)
            continue
        before = getattr(old, cfg.class_metric)
        after = getattr(new.per_class[label], cfg.class_metric)
        if before - after > cfg.class_tolerance + _EPS:
            regressed.append(f"{label!r} {before:.3f} -> {after:.3f}")
    if regressed:
        failures.append(
            f"class {cfg.class_metric} regressed by more than {cfg.class_tolerance:.3f}: {', '.join(regressed)}"
        )
    else:
        passes.append(f"no class {cfg.class_metric} dropped by more than {cfg.class_tolerance:.3f}")
    if too_few:
        passes.append(
            f"classes with fewer than {cfg.min_class_support} compared items not judged: "
            f"{', '.join(repr(label) for label in sorted(too_few))}"
        )
