import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier

from learning.pipelines import (
    DEFAULT_ESTIMATORS,
    EstimatorSpec,
    FeatureSpec,
    KernelLogisticRegression,
    PipelineConfigError,
    PixelScaler,
    build_pipeline,
    load_estimator,
    selection_features,
)

TEXTS = pd.DataFrame(
    {
        "text": [
            "the parcel arrived broken",
            "refund my broken order",
            "item damaged in transit",
            "great product, works well",
            "love it, works perfectly",
            "excellent quality, very happy",
        ]
        * 3,
        "label": (["complaint"] * 3 + ["praise"] * 3) * 3,
    }
)

TABLE = pd.DataFrame(
    {
        "size": [1.0, 2.0, 3.0, np.nan, 10.0, 11.0, 12.0, 13.0],
        "colour": ["red", "red", "red", None, "blue", "blue", "blue", "blue"],
        "label": ["small"] * 4 + ["big"] * 4,
    }
)


def test_text_pipeline_learns_words():
    pipe = build_pipeline(FeatureSpec(modality="text", text_column="text")).fit(TEXTS, TEXTS["label"])
    new = pd.DataFrame({"text": ["my order arrived broken", "works well, very happy"]})
    assert pipe.predict(new).tolist() == ["complaint", "praise"]


def test_tabular_pipeline_handles_missing_and_unknown_categories():
    spec = FeatureSpec(modality="tabular", numeric_columns=["size"], categorical_columns=["colour"])
    pipe = build_pipeline(spec).fit(TABLE, TABLE["label"])
    new = pd.DataFrame({"size": [2.0, 12.0, np.nan], "colour": ["green", "blue", "red"]})
    assert pipe.predict(new)[:2].tolist() == ["small", "big"]


def test_image_pipeline_on_digits():
    digits = load_digits()
    spec = FeatureSpec(modality="image", pixel_max=16.0)
    pipe = build_pipeline(spec).fit(digits.data[:1000], digits.target[:1000])
    assert np.mean(pipe.predict(digits.data[1000:]) == digits.target[1000:]) > 0.85


@pytest.mark.parametrize("n_train", [200, 1000])
def test_default_image_model_beats_logistic_regression_on_pixels(n_train):
    digits = load_digits()
    spec = FeatureSpec(modality="image", pixel_max=16.0)
    pixels_lr = EstimatorSpec(import_path="sklearn.linear_model.LogisticRegression", params={"max_iter": 1000})
    accuracy = {}
    for name, estimator in [("default", None), ("pixels_lr", pixels_lr)]:
        pipe = build_pipeline(spec, estimator).fit(digits.data[:n_train], digits.target[:n_train])
        accuracy[name] = np.mean(pipe.predict(digits.data[1000:]) == digits.target[1000:])
    assert accuracy["default"] > accuracy["pixels_lr"]


def test_kernel_model_with_fewer_rows_than_landmarks_gives_probabilities():
    digits = load_digits()
    rows, labels = digits.data[:12] / 16.0, digits.target[:12].astype(str)
    model = KernelLogisticRegression(n_components=300).fit(rows, labels)
    proba = model.predict_proba(digits.data[12:20] / 16.0)
    assert proba.shape == (8, len(set(labels)))
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_) == sorted(set(labels))
    assert model.predict(rows).tolist() == labels.tolist()


def test_kernel_model_is_deterministic_and_clonable():
    digits = load_digits()
    rows, labels = digits.data[:300] / 16.0, digits.target[:300]
    first = KernelLogisticRegression().fit(rows, labels).predict_proba(digits.data[300:400] / 16.0)
    again = clone(KernelLogisticRegression()).fit(rows, labels).predict_proba(digits.data[300:400] / 16.0)
    assert np.array_equal(first, again)
    assert DEFAULT_ESTIMATORS["image"].import_path == "learning.pipelines.KernelLogisticRegression"


def test_image_pipeline_accepts_2d_images():
    images = load_digits().images  # (n, 8, 8)
    scaled = PixelScaler(pixel_max=16.0).fit_transform(images[:5])
    assert scaled.shape == (5, 64)
    assert scaled.min() >= 0.0 and scaled.max() <= 1.0


def test_pixel_count_mismatch_is_an_error():
    scaler = PixelScaler().fit(np.zeros((2, 64)))
    with pytest.raises(PipelineConfigError, match="images have 16 pixels, the model was fitted on 64"):
        scaler.transform(np.zeros((2, 16)))


def test_configured_estimator_is_used():
    spec = EstimatorSpec(
        import_path="sklearn.ensemble.RandomForestClassifier", params={"n_estimators": 7, "random_state": 0}
    )
    pipe = build_pipeline(FeatureSpec(modality="image", pixel_max=16.0), spec)
    model = pipe.named_steps["model"]
    assert isinstance(model, RandomForestClassifier)
    assert model.n_estimators == 7


@pytest.mark.parametrize(
    ("import_path", "params", "message"),
    [
        ("sklearn.linear_model.NoSuchModel", {}, "has no 'NoSuchModel'"),
        ("no_such_package.Model", {}, "cannot import module 'no_such_package'"),
        ("LogisticRegression", {}, "must be 'package.module.Class'"),
        ("os.path.join", {}, "not a scikit-learn estimator class"),
        ("sklearn.linear_model.LogisticRegression", {"no_such_param": 1}, "rejects params"),
    ],
)
def test_bad_estimator_spec_is_a_clear_error(import_path, params, message):
    with pytest.raises(PipelineConfigError, match=message):
        load_estimator(EstimatorSpec(import_path=import_path, params=params))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"modality": "text"}, "text_column is required"),
        ({"modality": "tabular"}, "needs numeric_columns or categorical_columns"),
        (
            {"modality": "tabular", "numeric_columns": ["a"], "categorical_columns": ["a"]},
            "both numeric and categorical",
        ),
        ({"modality": "audio"}, "modality"),
    ],
)
def test_bad_feature_spec_is_rejected(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        FeatureSpec(**kwargs)


@pytest.mark.parametrize(
    ("spec", "rows"),
    [
        (FeatureSpec(modality="text", text_column="text"), TEXTS),
        (FeatureSpec(modality="tabular", numeric_columns=["size"], categorical_columns=["colour"]), TABLE),
        (FeatureSpec(modality="image", pixel_max=16.0), load_digits().data[:30]),
    ],
)
def test_selection_features_are_dense_and_finite(spec, rows):
    features = selection_features(spec, rows)
    assert isinstance(features, np.ndarray)
    assert features.shape[0] == len(rows)
    assert np.isfinite(features).all()
