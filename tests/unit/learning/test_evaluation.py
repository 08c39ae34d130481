import numpy as np
import pytest
from sklearn.datasets import load_digits, load_wine
from sklearn.dummy import DummyClassifier
from sklearn.metrics import f1_score

from learning.evaluation import (
    EvaluationConfig,
    EvaluationError,
    compute_metrics,
    evaluate_pipeline,
    macro_f1,
    plan_evaluation,
    resolved_mask,
    score_model,
)
from learning.pipelines import FeatureSpec, build_pipeline
from monitoring.decisions import live_accuracy


def test_metrics_on_hand_made_predictions():
    true = ["cat", "cat", "cat", "dog", "dog", "bird"]
    pred = ["cat", "cat", "dog", "dog", "dog", "cat"]
    m = compute_metrics(true, pred, "holdout")
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.labels == ["bird", "cat", "dog"]
    assert m.confusion_matrix == [[0, 1, 0], [0, 2, 1], [0, 0, 2]]
    assert m.per_class["cat"].precision == pytest.approx(2 / 3)
    assert m.per_class["cat"].recall == pytest.approx(2 / 3)
    assert m.per_class["dog"].recall == pytest.approx(1.0)
    assert m.per_class["bird"].support == 1 and m.per_class["bird"].recall == 0.0
    cat_f1, dog_f1 = 2 / 3, 0.8
    assert m.macro_f1 == pytest.approx((0.0 + cat_f1 + dog_f1) / 3)


@pytest.mark.parametrize(
    ("y_true", "y_pred"),
    [
        (["a", "a", "b", "b"], ["a", "b", "b", "b"]),
        ([0, 1, 2, 2, 1, 0, 3], [0, 2, 2, 2, 1, 1, 0]),
        (["x", "y"], ["z", "z"]),
    ],
)
def test_macro_f1_matches_sklearn(y_true: list[object], y_pred: list[object]) -> None:
    expected = f1_score(
        [str(v) for v in y_true], [str(v) for v in y_pred], average="macro", zero_division=0
    )
    assert macro_f1(y_true, y_pred) == pytest.approx(expected)


def test_macro_f1_hand_value() -> None:
    # class a: F1 2/3, class b: F1 4/5
    assert macro_f1(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx(
        (2 / 3 + 4 / 5) / 2
    )


def test_one_macro_f1_for_evaluation_and_live_monitoring() -> None:
    # "c" is predicted but no item is a "c": averaged over the true classes only (what
    # the evaluation used to report) this is (2/3 + 1/2) / 2; over every class that
    # occurs on either side (what monitoring reported), (2/3 + 1/2 + 0) / 3.
    true = ["a", "a", "b", "b"]
    pred = ["a", "b", "b", "c"]
    union = (2 / 3 + 1 / 2 + 0) / 3
    evaluated = compute_metrics(true, pred, "holdout").macro_f1
    live = live_accuracy(true, pred, labels_version="v1").macro_f1
    assert evaluated == live == pytest.approx(union)
    assert macro_f1(true, pred) == evaluated


def test_digest_ignores_order_and_tells_holdouts_apart():
    a = compute_metrics(["x", "y"], ["x", "y"], "holdout", ["i1", "i2"])
    b = compute_metrics(["y", "x"], ["y", "x"], "holdout", ["i2", "i1"])
    c = compute_metrics(["x", "y"], ["x", "y"], "holdout", ["i1", "i3"])
    assert a.evaluated_digest == b.evaluated_digest != c.evaluated_digest


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["a", None, "", "  ", float("nan"), "b"], [True, False, False, False, False, True]),
        ([], []),
    ],
)
def test_resolved_mask(labels, expected):
    assert resolved_mask(labels).tolist() == expected


@pytest.mark.parametrize(
    ("n_per_class", "method"),
    [(100, "holdout"), (30, "cross_validation"), (5, "cross_validation")],
)
def test_split_rule(n_per_class, method):
    labels = ["a"] * n_per_class + ["b"] * n_per_class + [None] * 7
    plan = plan_evaluation(labels)
    assert plan.method == method
    scored = plan.test_positions
    # Unresolved items are never used; each resolved item is tested at most once.
    assert max(scored) < 2 * n_per_class
    assert len(scored) == len(set(scored))
    for train, test in plan.folds:
        assert not set(train) & set(test)
        assert {labels[i] for i in test} == {"a", "b"}  # stratified
    if method == "cross_validation":
        assert len(scored) == 2 * n_per_class
        assert len(plan.folds) == min(5, n_per_class)


def test_holdout_is_reproducible_per_seed():
    labels = ["a", "b"] * 150
    assert plan_evaluation(labels) == plan_evaluation(labels)
    assert plan_evaluation(labels) != plan_evaluation(labels, EvaluationConfig(seed=1))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["a"] * 50, "need at least 2 classes .* only 'a'"),
        ([None] * 5, "need at least 2 classes .* none"),
        (["a"] * 50 + ["b"], r"at least 2 per class; classes below: 'b' \(1\)"),
    ],
)
def test_unusable_labels_are_a_clear_error(labels, message):
    with pytest.raises(EvaluationError, match=message):
        plan_evaluation(labels)


def test_evaluate_pipeline_and_score_champion_on_same_items():
    data = load_digits()
    rows, labels = data.data[:400], [str(v) for v in data.target[:400]]
    labels[3] = None  # unresolved: left out
    ids = [f"item-{i}" for i in range(400)]
    spec = FeatureSpec(modality="image", pixel_max=16.0)
    metrics, plan = evaluate_pipeline(lambda: build_pipeline(spec), rows, labels, ids)
    assert plan.method == "holdout"
    assert 3 not in plan.test_positions and all(3 not in train for train, _ in plan.folds)
    assert metrics.accuracy > 0.85
    assert metrics.n_items == len(plan.test_positions)

    dummy = DummyClassifier(strategy="most_frequent").fit(rows, labels[:3] + ["0"] + labels[4:])
    champion = score_model(dummy, rows, labels, ids, plan.test_positions)
    assert champion.evaluated_digest == metrics.evaluated_digest
    assert champion.accuracy < 0.2


def test_cross_validation_scores_every_labelled_item():
    x, y = load_wine(return_X_y=True)
    idx = np.r_[0:20, 60:80, 140:160]
    spec = FeatureSpec(modality="image", pixel_max=2000.0)
    metrics, plan = evaluate_pipeline(lambda: build_pipeline(spec), x[idx], y[idx].tolist(), [str(i) for i in idx])
    assert plan.method == "cross_validation"
    assert metrics.n_items == 60
    assert sum(map(sum, metrics.confusion_matrix)) == 60


def test_mismatched_lengths_are_an_error():
    with pytest.raises(EvaluationError, match=r"rows \(3\), labels \(2\) and item_ids \(3\)"):
        evaluate_pipeline(lambda: None, np.zeros((3, 2)), ["a", "b"], ["1", "2", "3"])
    with pytest.raises(EvaluationError, match="y_true has 2 items but y_pred has 1"):
        compute_metrics(["a", "b"], ["a"], "holdout")
