"""Live accuracy reporting and when to announce a degraded champion (pure).

`monitoring.decisions` scores the champion and decides whether it degraded; this module
decides whether that decision is news (`DegradedLog`: one `labelloop.model.degraded`
per champion version, so a rerun or the next labels version does not start a second
retrain of the same model) and renders the report a person reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from monitoring.decisions import (
    Degradation,
    LiveAccuracy,
    LiveAccuracySeries,
    MonitoringEvent,
    trend_markdown,
)

TREND_POINTS = 30


class DegradedLog(BaseModel):
    """The champion versions a `labelloop.model.degraded` event was sent for
    (`state/monitor/<model>.json`)."""

    model: str
    announced: dict[str, str] = Field(
        default_factory=dict, description="Champion version -> the labels version that showed it."
    )

    def should_announce(self, event: MonitoringEvent | None) -> bool:
        """Whether to send `event`: there is one, and none was sent for this champion yet.

        Args:
            event: The output of `monitoring.decisions.degraded_event`.

        Returns:
            True to emit it.
        """
        if event is None:
            return False
        return str(event.payload.get("model_version")) not in self.announced

    def with_announced(self, event: MonitoringEvent) -> DegradedLog:
        """The log after `event` was sent."""
        version = str(event.payload.get("model_version"))
        labels_version = str(event.payload.get("labels_version"))
        return self.model_copy(update={"announced": {**self.announced, version: labels_version}})


def per_class_markdown(live: LiveAccuracy) -> str:
    """One row per class of a live accuracy point (support, predicted, precision, recall, F1).

    Args:
        live: The point.

    Returns:
        A markdown table, or a sentence when nothing was scored.
    """
    if not live.per_class:
        return f"No per-class scores: {live.reason or 'nothing scored'}.\n"
    lines = [
        "| class | labelled | predicted | precision | recall | F1 |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {c.label} | {c.support} | {c.predicted} | {c.precision:.3f} | {c.recall:.3f} "
        f"| {c.f1:.3f} |"
        for c in live.per_class
    ]
    return "\n".join(lines) + "\n"


def live_report_markdown(
    series: LiveAccuracySeries,
    point: LiveAccuracy,
    holdout_accuracy: float,
    decision: Degradation,
    announced: bool,
    limit: int = TREND_POINTS,
) -> str:
    """The live accuracy artifact: this labels version, the decision, per class, the trend.

    Args:
        series: The model's whole series (this point included).
        point: The point scored by this run.
        holdout_accuracy: The champion's accuracy at training (holdout or cross-validation).
        decision: The degradation decision for `point`.
        announced: Whether this run sent `labelloop.model.degraded`.
        limit: Trend rows shown (the newest).

    Returns:
        Markdown.
    """
    if point.n and point.accuracy is not None and point.accuracy_interval is not None:
        low, high = point.accuracy_interval
        f1_low, f1_high = point.macro_f1_interval or (float("nan"), float("nan"))
        headline = (
            f"Champion {point.model_version} on labels version {point.labels_version}: "
            f"**accuracy {point.accuracy:.3f}** [{low:.3f}, {high:.3f}] (Wilson, "
            f"{point.confidence:.0%}), macro-F1 {point.macro_f1:.3f} [{f1_low:.3f}, "
            f"{f1_high:.3f}] (bootstrap), on {point.n} labelled items it never trained on; "
            f"accuracy at training {holdout_accuracy:.3f}."
        )
    else:
        headline = (
            f"Champion {point.model_version} on labels version {point.labels_version}: "
            f"nothing to score. {point.reason or ''}"
        )
    verdict = "DEGRADED" if decision.degraded else "not degraded"
    if announced:
        event = "`labelloop.model.degraded` sent."
    elif decision.degraded:
        event = "Already announced for this champion: no second event."
    else:
        event = "No event."
    shown: Sequence[LiveAccuracy] = series.points[-limit:]
    older = len(series.points) - len(shown)
    trend = trend_markdown(shown, holdout_accuracy).split("\n", 1)[1]
    return (
        f"# Live accuracy of {series.model}\n\n{headline}\n\n"
        f"**{verdict}**: {decision.reason}. {event}\n\n"
        f"## Per class\n\n{per_class_markdown(point)}\n"
        f"## Trend (newest last{f'; {older} older points not shown' if older else ''})\n"
        f"{trend}"
    )
