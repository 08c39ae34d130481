"""The registry format: version ids, safe model files, cards and pointers."""

import datetime as dt
import pickle

import numpy as np
import pytest
import skops.io as sio
from sklearn.datasets import load_digits
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from learning.pipelines import DEFAULT_ESTIMATORS, EstimatorSpec, FeatureSpec, build_pipeline
from learning.registry import (
    ModelCard,
    CorruptModelError,
    RegistryError,
    UntrustedModelError,
    check_version_id,
    load_model,
    new_version_id,
    parse_pointer,
    same_pipeline,
    serialize_model,
    untrusted_types,
)
from storage.layout import card_key

T0 = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def digits_model() -> tuple[Pipeline, np.ndarray]:
    digits = load_digits()
    model = build_pipeline(FeatureSpec(modality="image", pixel_max=16)).fit(
        digits.data[:200], digits.target[:200].astype(str)
    )
    return model, digits.data[200:260]


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        (T0, T0 + dt.timedelta(microseconds=1)),
        (T0, T0 + dt.timedelta(days=400)),
        (T0.replace(hour=23), (T0 + dt.timedelta(days=1)).replace(hour=1)),
        (dt.datetime(2024, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=2))), T0),  # 11:00 UTC
    ],
)
def test_version_ids_sort_by_time(earlier: dt.datetime, later: dt.datetime) -> None:
    ids = [new_version_id(later, "ffffff"), new_version_id(earlier, "000000")]
    assert sorted(ids) == ids[::-1]


def test_same_instant_gives_different_ids() -> None:
    assert new_version_id(T0) != new_version_id(T0)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "latest",
        "../champion",
        "20240101T120000000000Z-ab12c",
        "20240101T120000000000Z-ab12cd/x",
    ],
)
def test_bad_version_ids_are_refused(bad: str) -> None:
    with pytest.raises(RegistryError, match="invalid model version"):
        check_version_id(bad)
    with pytest.raises(RegistryError):
        card_key("digits", bad)


def test_naive_time_is_refused() -> None:
    with pytest.raises(RegistryError, match="aware"):
        new_version_id(dt.datetime(2024, 1, 1))


def test_model_round_trip_predicts_the_same(digits_model) -> None:
    model, rows = digits_model
    loaded = load_model(serialize_model(model))
    assert loaded.predict(rows).tolist() == model.predict(rows).tolist()
    assert np.allclose(loaded.predict_proba(rows), model.predict_proba(rows))


@pytest.mark.parametrize(
    "planted",
    [FunctionTransformer(func=eval), FunctionTransformer(func=pickle.loads)],
    ids=["eval", "pickle.loads"],
)
def test_model_file_with_untrusted_types_is_refused(digits_model, planted) -> None:
    model, _ = digits_model
    evil = Pipeline([("planted", planted), *model.steps])
    data = sio.dumps(evil)
    assert untrusted_types(data)  # the file does hold something outside the list
    with pytest.raises(UntrustedModelError, match="refusing to load"):
        load_model(data, where="models/digits/x/model.skops")


@pytest.mark.parametrize(
    "data",
    [b"", b"not a zip at all", pickle.dumps({"a": 1})],
    ids=["empty", "text", "pickle"],
)
def test_non_skops_bytes_are_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptModelError, match="models/m/v/model.skops"):
        load_model(data, where="models/m/v/model.skops")


def test_a_skops_file_that_is_not_a_pipeline_is_refused() -> None:
    with pytest.raises(CorruptModelError, match="not a scikit-learn Pipeline"):
        load_model(sio.dumps({"weights": [1, 2, 3]}))


@pytest.mark.parametrize(
    "document",
    [
        {},
        {
            "name": "digits",
            "version": "../x",
            "previous_version": None,
            "action": "promote",
            "changed_at": "2024-01-01T00:00:00Z",
        },
        [],
    ],
)
def test_invalid_pointer_documents_are_corrupt(document) -> None:
    with pytest.raises(CorruptModelError, match="champion pointer models/digits/champion.json"):
        parse_pointer(document, "models/digits/champion.json")


IMAGE = FeatureSpec(modality="image", pixel_max=16)
KERNEL = DEFAULT_ESTIMATORS["image"]


@pytest.mark.parametrize(
    ("features", "estimator", "same"),
    [
        (FeatureSpec(modality="image", pixel_max=16), KERNEL, True),
        (FeatureSpec(modality="image", pixel_max=255), KERNEL, False),
        (IMAGE, EstimatorSpec(import_path="sklearn.neighbors.KNeighborsClassifier"), False),
        (IMAGE, KERNEL.model_copy(update={"params": {"C": 0.001}}), False),
    ],
    ids=["same", "other-features", "other-estimator", "other-params"],
)
def test_same_pipeline_compares_features_and_estimator(features, estimator, same) -> None:
    # The card as the registry reads it back: through JSON.
    card = ModelCard.model_construct(features=IMAGE, estimator=KERNEL)
    stored = ModelCard.model_construct(
        features=FeatureSpec.model_validate_json(card.features.model_dump_json()),
        estimator=EstimatorSpec.model_validate_json(card.estimator.model_dump_json()),
    )
    assert same_pipeline(stored, features, estimator) is same
