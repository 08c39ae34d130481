"""When a degraded champion is news, and the live accuracy report a person reads."""

from __future__ import annotations

from monitoring.decisions import (
    LiveAccuracySeries,
    degradation,
    degraded_event,
    live_accuracy,
)
from monitoring.live import DegradedLog, live_report_markdown, per_class_markdown


def _live(correct: int, n: int, labels_version: str = "v1", model: str = "m1"):
    return live_accuracy(
        ["3"] * n,
        ["3"] * correct + ["8"] * (n - correct),
        labels_version=labels_version,
        model_version=model,
    )


def test_one_degraded_event_per_champion() -> None:
    log = DegradedLog(model="digits")
    first = degraded_event(_live(50, 100, "v1"), 0.95, 0.05, 10, model="digits")
    assert log.should_announce(first)
    log = log.with_announced(first)
    assert log.announced == {"m1": "v1"}
    rerun = degraded_event(_live(50, 100, "v1"), 0.95, 0.05, 10, model="digits")
    next_version = degraded_event(_live(40, 120, "v2"), 0.95, 0.05, 10, model="digits")
    assert not log.should_announce(rerun) and not log.should_announce(next_version)
    new_champion = degraded_event(_live(40, 120, "v3", "m2"), 0.95, 0.05, 10, model="digits")
    assert log.should_announce(new_champion)
    assert not log.should_announce(None)
    assert DegradedLog.model_validate_json(log.model_dump_json()) == log


def test_report_shows_the_point_the_decision_and_the_trend() -> None:
    point = _live(50, 100, "v2")
    series = LiveAccuracySeries(model="digits").with_point(_live(96, 100, "v1")).with_point(point)
    decision = degradation(point, 0.95, 0.05, 10)
    text = live_report_markdown(series, point, 0.95, decision, announced=True)
    assert "**accuracy 0.500** [0.404, 0.596] (Wilson, 95%)" in text
    assert "(bootstrap), on 100 labelled items it never trained on" in text
    assert "**DEGRADED**" in text and "`labelloop.model.degraded` sent." in text
    assert "| 3 | 100 | 50 | 1.000 | 0.500 | 0.667 |" in text  # class 3: all labelled 3
    assert text.index("| v1 | m1 | 100 | 0.960") < text.index("| v2 | m1 | 100 | 0.500")
    again = live_report_markdown(series, point, 0.95, decision, announced=False)
    assert "Already announced for this champion: no second event." in again


def test_report_without_unseen_items_says_why() -> None:
    point = live_accuracy([], [], labels_version="v5", model_version="m1")
    series = LiveAccuracySeries(model="digits").with_point(point)
    text = live_report_markdown(series, point, 0.9, degradation(point, 0.9, 0.05, 10), False)
    assert "nothing to score" in text and "no items the champion was not trained on" in text
    assert "**not degraded**" in text and "No event." in text
    assert "No per-class scores" in per_class_markdown(point)


def test_report_shows_only_the_newest_points() -> None:
    series = LiveAccuracySeries(model="digits")
    for n in range(40):
        series = series.with_point(_live(90, 100, f"v{n:02d}"))
    point = series.points[-1]
    text = live_report_markdown(series, point, 0.9, degradation(point, 0.9, 0.05, 10), False)
    assert "10 older points not shown" in text
    assert "| v09 |" not in text and "| v10 |" in text and "| v39 |" in text
