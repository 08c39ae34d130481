"""Monitoring decisions: which events fire, live accuracy, disputed labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.decisions import (
    DATA_DRIFTED,
    MODEL_DEGRADED,
    LiveAccuracy,
    LiveAccuracySeries,
    degradation,
    degraded_event,
    disputed,
    drift_event,
    expected_accuracy,
    flag_disputed,
    live_accuracy,
    trend_markdown,
    unseen_labels,
)
from monitoring.profile import (
    DriftReport,
    DriftThresholds,
    FeatureDrift,
    ReliabilityBin,
    reliability_bins,
)


def _feature(name: str, column: str, psi: float, drifted: bool) -> FeatureDrift:
    return FeatureDrift(
        feature=name,
        column=column,
        kind="numeric",
        psi=psi,
        chi_square=50.0,
        p_value=1e-9,
        dof=9,
        drifted=drifted,
    )


def _report(features: list[FeatureDrift]) -> DriftReport:
    columns = list(dict.fromkeys(f.column for f in features if f.drifted))
    return DriftReport(
        n_rows=300,
        checked=True,
        drifted=bool(columns),
        drifted_columns=columns,
        features=features,
        alpha_per_test=0.01,
        thresholds=DriftThresholds(),
    )


def test_drift_event_names_columns_and_amounts() -> None:
    report = _report(
        [
            _feature("image.mean", "image", 0.4, True),
            _feature("image.std", "image", 0.9, True),
            _feature("size", "size", 0.05, False),
            _feature("prediction.class", "prediction", 0.3, True),
        ]
    )
    event = drift_event(report, dataset="digits", batch_id="b7")
    assert event is not None
    assert event.event == DATA_DRIFTED
    assert event.resource["prefect.resource.id"] == "labelloop.dataset.digits"
    assert event.payload["drifted_columns"] == ["image", "prediction"]
    assert event.payload["columns"]["image"]["psi"] == 0.9
    assert set(event.payload["columns"]["image"]["features"]) == {"image.mean", "image.std"}
    assert "size" not in event.payload["columns"]
    assert event.payload["batch_id"] == "b7" and event.payload["rows"] == 300
    assert event.payload["model_version"] is None and event.payload["report_key"] is None


def test_drift_event_says_which_champion_and_where_the_report_is() -> None:
    report = _report([_feature("pixel_3", "pixel_3", 0.5, True)])
    event = drift_event(
        report, "digits", "b7", model_version="20240101T000000000000Z-abcdef", report_key="k.json"
    )
    assert event is not None
    assert event.payload["model_version"] == "20240101T000000000000Z-abcdef"
    assert event.payload["report_key"] == "k.json"


@pytest.mark.parametrize(
    "report",
    [
        _report([_feature("size", "size", 0.05, False)]),
        DriftReport(
            n_rows=0,
            checked=False,
            drifted=False,
            thresholds=DriftThresholds(),
            messages=["empty batch"],
        ),
    ],
)
def test_no_drift_no_event(report: DriftReport) -> None:
    assert drift_event(report, dataset="digits") is None


def test_live_accuracy_scores() -> None:
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", "b", "a"]
    live = live_accuracy(y_true, y_pred, labels_version="v3", model_version="m1")
    assert live.n == 6 and live.correct == 4
    assert live.accuracy == pytest.approx(4 / 6)
    low, high = live.accuracy_interval or (0, 0)
    assert low < 4 / 6 < high
    # a: P 2/3 R 2/3 F1 2/3; b: P 2/3 R 1 F1 4/5; c: 0
    assert live.macro_f1 == pytest.approx((2 / 3 + 4 / 5 + 0) / 3)
    scores = {c.label: c for c in live.per_class}
    assert (scores["b"].support, scores["b"].predicted, scores["b"].recall) == (2, 3, 1.0)
    assert scores["c"].f1 == 0.0


def test_live_accuracy_without_unseen_items() -> None:
    live = live_accuracy([], [], labels_version="v4")
    assert live.n == 0 and live.accuracy is None
    assert live.reason is not None and "v4" in live.reason
    decision = degradation(live, holdout_accuracy=0.95, margin=0.05, n_classes=10)
    assert not decision.degraded and "no items" in decision.reason
    assert degraded_event(live, 0.95, 0.05, 10, model="digits") is None


def test_unseen_labels() -> None:
    labels = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "label": ["1", "2", "3", "4"]})
    assert unseen_labels(labels, ["b", "d", "z"])["item_id"].tolist() == ["a", "c"]
    assert unseen_labels(labels, ["a", "b", "c", "d"]).empty
    with pytest.raises(ValueError, match="no 'item_id' column"):
        unseen_labels(labels.rename(columns={"item_id": "id"}), [])


def _live(correct: int, n: int) -> LiveAccuracy:
    return live_accuracy(
        ["x"] * n, ["x"] * correct + ["y"] * (n - correct), labels_version="v9", model_version="m2"
    )


@pytest.mark.parametrize(
    ("correct", "n", "n_classes", "fires", "why"),
    [
        (70, 100, 10, True, "degraded"),  # 0.70 < 0.95 - 0.05, interval far above 0.1
        (92, 100, 10, False, "within the margin"),  # 0.92 >= 0.90
        (90, 100, 10, False, "within the margin"),  # exactly at the floor
        (2, 4, 2, False, "includes chance"),  # 0.5 on 4 items of a 2-class problem
        (5, 8, 2, False, "includes chance"),  # 0.625, Wilson [0.31, 0.86] spans 0.5
        (140, 200, 2, True, "degraded"),  # 0.70, Wilson [0.63, 0.76] excludes 0.5
    ],
)
def test_degraded_event_rule(correct: int, n: int, n_classes: int, fires: bool, why: str) -> None:
    live = _live(correct, n)
    event = degraded_event(
        live, holdout_accuracy=0.95, margin=0.05, n_classes=n_classes, model="digits"
    )
    assert (event is not None) == fires
    assert why in degradation(live, 0.95, 0.05, n_classes).reason
    if event is not None:
        assert event.event == MODEL_DEGRADED
        assert event.resource["prefect.resource.id"] == "labelloop.model.digits"
        assert event.payload["labels_version"] == "v9" and event.payload["n"] == n
        assert "degraded" in event.payload["reason"]


def test_degradation_rejects_one_class() -> None:
    with pytest.raises(ValueError, match="n_classes"):
        degradation(_live(1, 2), 0.9, 0.05, n_classes=1)


def test_disputed_labels() -> None:
    labels = pd.DataFrame(
        {"item_id": ["i1", "i2", "i3", "i4", "i5"], "label": ["0", "1", "2", "1", "9"]}
    )
    proba = np.array(
        [
            [0.97, 0.02, 0.01],  # agrees
            [0.95, 0.04, 0.01],  # disputed: 0 at 0.95
            [0.50, 0.45, 0.05],  # uncertain, not confident
            [0.01, 0.01, 0.98],  # disputed: 2 at 0.98
            [0.10, 0.10, 0.80],  # label 9 unknown to the model, 0.80 below threshold
        ]
    )
    result = disputed(labels, proba, [0, 1, 2], threshold=0.9)
    assert [(d.item_id, d.label, d.model_label) for d in result] == [
        ("i4", "1", "2"),
        ("i2", "1", "0"),
    ]
    assert result[0].model_probability == pytest.approx(0.98)
    assert result[0].label_probability == pytest.approx(0.01)
    looser = disputed(labels, proba, ["0", "1", "2"], threshold=0.8)
    assert ("i5", 0.0) in [(d.item_id, d.label_probability) for d in looser]


@pytest.mark.parametrize(
    ("proba", "threshold", "message"),
    [
        (np.ones((2, 3)) / 3, 0.9, "shape"),
        (np.ones((1, 2)) / 2, 0.0, "threshold"),
    ],
)
def test_disputed_rejects_bad_input(proba: np.ndarray, threshold: float, message: str) -> None:
    labels = pd.DataFrame({"item_id": ["i1"], "label": ["0"]})
    with pytest.raises(ValueError, match=message):
        disputed(labels, proba, ["0", "1"], threshold=threshold)


def test_trend_markdown_lists_every_version() -> None:
    series = [_live(95, 100), _live(70, 100), live_accuracy([], [], labels_version="v10")]
    text = trend_markdown(series, holdout_accuracy=0.95)
    assert "| v9 | m2 | 100 | 0.950 |" in text
    assert "| v9 | m2 | 100 | 0.700 |" in text
    assert "no items the champion was not trained on" in text


def test_flag_disputed_marks_only_disputed_rows() -> None:
    labels = pd.DataFrame({"item_id": ["i1", "i2", "i3"], "label": ["0", "1", "2"]})
    proba = np.array([[0.98, 0.01, 0.01], [0.97, 0.02, 0.01], [0.2, 0.2, 0.6]])
    flagged = flag_disputed(labels, disputed(labels, proba, ["0", "1", "2"], threshold=0.9))
    assert flagged["disputed"].tolist() == [False, True, False]
    assert flagged["disputed_by"].isna().tolist() == [True, False, True]
    assert flagged["disputed_by"].iloc[1] == "0"
    assert flagged["dispute_probability"].iloc[1] == pytest.approx(0.97)
    assert list(labels.columns) == ["item_id", "label"]  # the input is not changed


def test_series_rerun_replaces_its_point() -> None:
    series = (
        LiveAccuracySeries(model="digits").with_point(_live(90, 100)).with_point(_live(80, 100))
    )
    assert [p.accuracy for p in series.points] == [0.8]
    other = live_accuracy(["a"], ["a"], labels_version="v10", model_version="m2")
    series = series.with_point(other)
    assert [p.labels_version for p in series.points] == ["v9", "v10"]
    restored = LiveAccuracySeries.model_validate_json(series.model_dump_json())
    assert restored == series


def test_reliability_bins_hold_every_row_once_by_confidence() -> None:
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.2, 1.0, 500)
    correct = rng.uniform(size=500) < confidence  # a calibrated model
    bins = reliability_bins(confidence, correct, n_bins=5)
    assert len(bins) == 5 and sum(b.n for b in bins) == 500
    assert sum(b.correct for b in bins) == int(correct.sum())
    assert bins[-1].upper == confidence.max()
    rates = [b.correct / b.n for b in bins]
    assert rates == sorted(rates)
    assert reliability_bins([], []) == []
    with pytest.raises(ValueError, match="3 confidences but 2 outcomes"):
        reliability_bins([0.1, 0.2, 0.3], [True, False])


def test_expected_accuracy_weighs_each_item_by_its_confidence_bin() -> None:
    bins = [ReliabilityBin(upper=0.6, n=10, correct=5), ReliabilityBin(upper=0.95, n=20, correct=18)]
    assert expected_accuracy([0.4, 0.9], bins) == pytest.approx((0.5 + 0.9) / 2)
    assert expected_accuracy([0.99], bins) == pytest.approx(0.9)  # above every bin: the last
    assert expected_accuracy([0.6], bins) == pytest.approx(0.5)  # an upper edge is in its bin
    assert expected_accuracy([0.5], []) is None
    assert expected_accuracy([], bins) is None


def test_hard_items_labelled_are_not_a_degraded_model() -> None:
    # what the demo showed: the push selects the items the champion is least sure of
    live = live_accuracy(["1"] * 97 + ["2"] * 15, ["1"] * 112, labels_version="v9")
    assert live.accuracy == pytest.approx(0.866, abs=1e-3)
    against_holdout = degradation(live, 0.979, 0.05, 10)
    assert against_holdout.degraded
    fair = degradation(live, 0.979, 0.05, 10, expected=0.88)
    assert not fair.degraded
    assert "expected 0.880 at these confidences (holdout 0.979)" in fair.reason
    assert degradation(live, 0.979, 0.05, 10, expected=0.97).degraded
    event = degraded_event(live, 0.979, 0.05, 10, model="digits", expected=0.97)
    assert event is not None and event.payload["expected_accuracy"] == 0.97
