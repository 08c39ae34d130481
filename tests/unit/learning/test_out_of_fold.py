"""Out-of-fold predictions keep their probabilities (the drift profile's reference); the
gate's comparison predictions never come from a model that saw the item."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_wine
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from learning.evaluation import EvaluationConfig, plan_evaluation
from learning.pipelines import FeatureSpec, build_pipeline
from learning.training import (
    TrainingError,
    comparison_predictions,
    out_of_fold,
    pair_with_champion,
)

WINE = FeatureSpec(modality="tabular", numeric_columns=[f"f{i}" for i in range(13)])


@pytest.fixture(scope="module")
def wine():
    data = load_wine(as_frame=True)
    frame = data.data.set_axis([f"f{i}" for i in range(13)], axis=1)
    return frame, [f"class-{t}" for t in data.target]


@pytest.mark.parametrize(
    ("config", "method"),
    [
        (EvaluationConfig(holdout_min_items=100), "holdout"),
        (EvaluationConfig(holdout_min_items=1000), "cross_validation"),
    ],
)
def test_probabilities_cover_the_evaluated_rows(wine, config, method) -> None:
    rows, labels = wine
    plan = plan_evaluation(labels, config)
    assert plan.method == method
    result = out_of_fold(lambda: build_pipeline(WINE), rows, labels, plan)
    proba = result.probabilities
    assert proba is not None
    assert list(proba.index) == plan.test_positions
    assert list(proba.columns) == ["class-0", "class-1", "class-2"]
    assert np.allclose(proba.sum(axis=1), 1.0)
    # The label predicted is the most probable class (LogisticRegression).
    assert [proba.columns[i] for i in proba.to_numpy().argmax(axis=1)] == [
        result.predictions[p] for p in plan.test_positions
    ]


def test_an_estimator_without_probabilities_gives_none(wine) -> None:
    rows, labels = wine
    plan = plan_evaluation(labels, EvaluationConfig(holdout_min_items=100))

    def make() -> Pipeline:
        return Pipeline([("scale", StandardScaler()), ("model", LinearSVC())])

    result = out_of_fold(make, rows, labels, plan)
    assert result.probabilities is None
    assert sorted(result.predictions) == plan.test_positions


class _Memory(ClassifierMixin, BaseEstimator):
    """Predicts "seen" for a row it was fitted on, else "unseen"; remembers its fits."""

    fits: list[int] = []

    def fit(self, X, y):
        self.rows_ = {float(v) for v in np.asarray(X)[:, 0]}
        self.classes_ = np.array(["seen", "unseen"])
        _Memory.fits.append(len(self.rows_))
        return self

    def predict(self, X):
        return np.array(["seen" if float(v) in self.rows_ else "unseen" for v in np.asarray(X)[:, 0]])


def test_comparison_predictions_never_see_the_item_and_see_everything_else() -> None:
    rows = np.arange(100, dtype=float)[:, None]
    labels = ["x", "y"] * 50
    positions = list(range(60, 100))  # the 40 labels the champion never saw
    _Memory.fits = []
    predicted = comparison_predictions(_Memory, rows, labels, positions, n_folds=5)
    assert sorted(predicted) == positions
    assert set(predicted.values()) == {"unseen"}
    # Five fits, each on every label but one fold of 8 compared items.
    assert _Memory.fits == [92] * 5


def test_pair_with_champion_pairs_every_label_each_by_models_that_never_saw_it() -> None:
    rows = np.arange(30, dtype=float)[:, None]
    labels = ["x", "y"] * 15
    ids = [f"i{k}" for k in range(30)]
    champion = _Memory().fit(rows[:20], labels[:20])
    _Memory.fits = []
    outcomes = pair_with_champion(champion, _Memory, rows, labels, ids, ids[:20])
    assert outcomes.item_ids == ids
    assert outcomes.champion_refitted == 20
    # Neither side predicts an item with a model fitted on it: the champion's own items
    # come from its pipeline refitted without them.
    assert outcomes.champion == ["unseen"] * 30
    assert outcomes.new == ["unseen"] * 30
    assert outcomes.truth == labels
    # The challenger: every label but a fold (5 folds of 2 new items, then of 4 of the
    # champion's); the champion's clone: its 20 items but the same fold of 4.
    assert _Memory.fits == [28] * 5 + [26] * 5 + [16] * 5


def test_the_same_labels_again_are_not_comparable() -> None:
    rows = np.arange(30, dtype=float)[:, None]
    labels = ["seen"] * 30
    ids = [f"i{k}" for k in range(30)]
    champion = _Memory().fit(rows, labels)
    assert pair_with_champion(champion, _Memory, rows, labels, ids, ids).n_items == 0


def test_a_fold_left_with_one_class_predicts_that_class() -> None:
    rows = np.arange(6, dtype=float)[:, None]
    labels = ["a", "a", "a", "a", "b", "b"]
    # The model may train only on rows 0-3 (all "a"): no fit, every item predicted "a".
    _Memory.fits = []
    predicted = comparison_predictions(
        _Memory, rows, labels, [4, 5], n_folds=2, train_positions=[0, 1, 2, 3]
    )
    assert predicted == {4: "a", 5: "a"}
    assert _Memory.fits == []


def test_comparison_predictions_reject_repeated_positions() -> None:
    with pytest.raises(TrainingError, match="distinct rows of the 3 labels"):
        comparison_predictions(_Memory, np.zeros((3, 1)), ["a", "b", "a"], [1, 1])


def test_a_lone_item_the_champion_trained_on_is_not_paired() -> None:
    rows = np.arange(12, dtype=float)[:, None]
    labels = ["x", "y"] * 6
    ids = [f"i{k}" for k in range(12)]
    champion = _Memory().fit(rows[:1], labels[:1])
    outcomes = pair_with_champion(champion, _Memory, rows, labels, ids, ids[:1])
    assert outcomes.item_ids == ids[1:]
    assert outcomes.champion_refitted == 0


def test_a_fold_with_nothing_left_to_fit_on_is_a_clear_error() -> None:
    with pytest.raises(TrainingError, match="no row left to fit on"):
        comparison_predictions(_Memory, np.zeros((3, 1)), ["a", "b", "a"], [0], train_positions=[0])
