"""Drift checks against a champion in a local DataStore: what is compared, and the reason
given when nothing can be (no champion, no profile, a damaged one, a batch missing inputs)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from blocks import DataStore
from learning.evaluation import EvaluationConfig, compute_metrics, plan_evaluation
from learning.gate import decide_promotion
from learning.pipelines import DEFAULT_ESTIMATORS, build_pipeline
from learning.registry import (
    ModelCard,
    items_document,
    model_digest,
    new_version_id,
    serialize_model,
)
from learning.training import out_of_fold
from monitoring.profile import DriftThresholds, ReferenceProfile
from specs import IRIS
from storage.layout import model_key, profile_key
from tasks.monitoring import batch_report, build_reference_profile, read_reference
from tasks.registry import save_version, swap_champion

NAME = "iris"
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def iris_rows(n: int, seed: int) -> pd.DataFrame:
    """Iris measurements resampled with a little jitter, as clean rows."""
    data = load_iris()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, 150, n)
    values = np.round(data.data[pick] + rng.normal(0, 0.05, (n, 4)), 2)
    frame = pd.DataFrame(values, columns=COLUMNS)
    frame["species"] = data.target_names[data.target[pick]]
    frame.insert(0, "item_id", [f"s{seed}-{i}" for i in range(n)])
    frame["_source"] = "file:///iris.csv"
    return frame


@pytest.fixture(scope="module")
def training() -> tuple[pd.DataFrame, list[str]]:
    rows = iris_rows(900, seed=1)
    return rows, rows["species"].tolist()


def _save_champion(store: DataStore, rows: pd.DataFrame, labels: list[str]) -> ModelCard:
    model = build_pipeline(IRIS.features).fit(rows, labels)
    data = serialize_model(model)
    items = items_document(rows["item_id"].tolist())
    metrics = compute_metrics(labels, model.predict(rows), "holdout", rows["item_id"].tolist())
    card = ModelCard(
        name=NAME,
        version=new_version_id(T0),
        dataset=NAME,
        labels_version="v1",
        labels_key="labels/iris/v1.parquet",
        data_batches=["clean/iris/b1.parquet"],
        n_labelled=len(labels),
        n_trained=len(labels),
        classes=[str(c) for c in model.classes_],
        features=IRIS.features,
        estimator=DEFAULT_ESTIMATORS["tabular"],
        estimator_params={},
        metrics=metrics,
        holdout_digest=metrics.evaluated_digest,
        gate=decide_promotion(metrics, None),
        code_version="test",
        library_versions={},
        model_sha256=model_digest(data),
        items_sha256=model_digest(items),
        created_at=T0,
    )
    save_version(store, card, data, items)
    swap_champion(store, NAME, card.version)
    return card


@pytest.fixture
def store(tmp_path: Path) -> DataStore:
    return DataStore(base_path=str(tmp_path))


@pytest.fixture
def champion(store: DataStore, training) -> ModelCard:
    """A champion with the profile the train flow saves (out-of-fold probabilities)."""
    rows, labels = training
    card = _save_champion(store, rows, labels)
    plan = plan_evaluation(labels, EvaluationConfig())
    evaluated = out_of_fold(lambda: build_pipeline(IRIS.features), rows, labels, plan)
    profile = build_reference_profile(card, rows, rows, evaluated.probabilities)
    store.write_bytes(profile_key(NAME, card.version), profile.model_dump_json().encode())
    return card


def _batch(store: DataStore, frame: pd.DataFrame, batch_id: str = "b2") -> str:
    key = f"clean/iris/{batch_id}.parquet"
    store.write_parquet(key, frame)
    return key


def test_the_profile_holds_the_model_inputs_and_its_evaluated_predictions(
    store: DataStore, champion: ModelCard
) -> None:
    profile = ReferenceProfile.model_validate_json(
        store.read_bytes(profile_key(NAME, champion.version))
    )
    assert profile.columns == dict.fromkeys(COLUMNS, "numeric")
    assert profile.other_columns == ["species"]  # known, not a model input
    assert profile.predictions is not None
    assert profile.predictions.classes == ["setosa", "versicolor", "virginica"]
    assert profile.predictions.class_mix.n == 180  # the 20% holdout, not the training rows


def test_a_batch_like_the_training_data_does_not_drift(
    store: DataStore, champion: ModelCard
) -> None:
    reference = read_reference(store, NAME, "iris")
    assert reference.reason is None and reference.version == champion.version
    report = batch_report(
        store, _batch(store, iris_rows(300, 2)), 300, reference, DriftThresholds()
    )
    assert report.checked and not report.drifted
    assert report.messages == []
    assert {f.feature for f in report.features} == {
        *COLUMNS,
        "prediction.class",
        "prediction.confidence",
    }


def test_shifted_measurements_drift(store: DataStore, champion: ModelCard) -> None:
    batch = iris_rows(300, 3)
    batch["petal_length"] += 1.5
    report = batch_report(
        store, _batch(store, batch), 300, read_reference(store, NAME, "iris"), DriftThresholds()
    )
    assert report.drifted and "petal_length" in report.drifted_columns
    assert "sepal_width" not in report.drifted_columns


def test_missing_and_new_columns_are_messages(store: DataStore, champion: ModelCard) -> None:
    batch = iris_rows(300, 4).drop(columns=["petal_width"]).assign(colour="blue")
    report = batch_report(
        store, _batch(store, batch), 300, read_reference(store, NAME, "iris"), DriftThresholds()
    )
    assert report.checked and not report.drifted
    text = "\n".join(report.messages)
    assert "columns not in the reference profile, not checked: ['colour']" in text
    assert "reference columns missing from the batch, not checked: ['petal_width']" in text
    assert "predictions were not checked: the batch lacks its inputs ['petal_width']" in text
    assert "prediction" not in {f.column for f in report.features}


def test_a_batch_with_no_clean_rows_is_said(store: DataStore, champion: ModelCard) -> None:
    report = batch_report(store, None, 0, read_reference(store, NAME, "iris"), DriftThresholds())
    assert not report.checked and report.messages == [
        "no clean rows in this batch: nothing compared"
    ]


def _no_profile(store: DataStore, card: ModelCard) -> None:
    store.delete(profile_key(NAME, card.version))


def _bad_profile(store: DataStore, card: ModelCard) -> None:
    store.write_bytes(profile_key(NAME, card.version), b'{"format": 1, "n_rows": -3}')


def _damaged_model(store: DataStore, card: ModelCard) -> None:
    store.write_bytes(model_key(NAME, card.version), b"PK\x03\x04 not a model")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_no_profile, "has no reference profile (it was trained before drift monitoring)"),
        (_bad_profile, "is unreadable"),
        (_damaged_model, "cannot be loaded"),
    ],
)
def test_a_champion_that_cannot_serve_as_reference_is_a_reason(
    store: DataStore, champion: ModelCard, damage, reason: str
) -> None:
    damage(store, champion)
    reference = read_reference(store, NAME, "iris")
    assert reference.reason is not None and reason in reference.reason
    assert "drift not checked" in reference.reason
    shifted = iris_rows(300, 5).assign(petal_length=9.0)
    report = batch_report(store, _batch(store, shifted), 300, reference, DriftThresholds())
    assert (report.checked, report.drifted, report.n_rows) == (False, False, 300)
    assert report.messages == [reference.reason]


def test_no_champion_and_unknown_spec_are_reasons(store: DataStore, champion: ModelCard) -> None:
    assert "has no champion yet" in (read_reference(store, "other", "iris").reason or "")
    unknown = read_reference(store, NAME, "no_such_dataset").reason or ""
    assert "'no_such_dataset' is not a data set name" in unknown and "drift not checked" in unknown


def test_a_batch_the_champion_cannot_score_is_said(store: DataStore, champion: ModelCard) -> None:
    batch = iris_rows(300, 6)
    batch["sepal_width"] = batch["sepal_width"].astype(str).where(batch.index % 2 == 0, "n/a")
    report = batch_report(
        store, _batch(store, batch), 300, read_reference(store, NAME, "iris"), DriftThresholds()
    )
    assert report.checked
    text = "\n".join(report.messages)
    assert "the champion cannot score this batch" in text
    assert "'sepal_width': 150 values are not numbers" in text
    assert "prediction" not in {f.column for f in report.features}
