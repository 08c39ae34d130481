"""Out-of-fold predictions keep their probabilities: the drift profile's reference."""

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from learning.evaluation import EvaluationConfig, plan_evaluation
from learning.pipelines import FeatureSpec, build_pipeline
from learning.training import out_of_fold

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
