"""Prefect tasks of the train flow: read labels and clean data, build features, fit, gate.

Decisions live in ``learning`` (split, gate, comparison); these tasks read the
DataStore and hand plain values over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict
from sklearn.pipeline import Pipeline

from blocks import DataStore
from blocks.data_store import MissingKeyError
from learning.evaluation import (
    EvaluationConfig,
    EvaluationPlan,
    Metrics,
    compute_metrics,
    plan_evaluation,
    score_model,
)
from learning.gate import (
    ChampionComparison,
    GateConfig,
    GateDecision,
    decide_promotion,
)
from learning.pipelines import EstimatorSpec, build_pipeline
from learning.training import TrainingError, out_of_fold, pair_with_champion
from specs import DatasetSpec
from storage.layout import labels_key, latest_labels_key
from tasks.data import Rows, feature_rows
from tasks.state import read_labels_pointer

STORE_RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10]}


class LabelsRef(BaseModel):
    """The labels version a run trains on."""

    model_config = ConfigDict(frozen=True)

    version: str
    key: str


@task(name="load-labels-version", cache_policy=NO_CACHE, **STORE_RETRIES)
def load_labels_version(
    store: DataStore, project: str, version: str = "latest"
) -> tuple[LabelsRef, pd.DataFrame]:
    """Read a labels version (``latest`` follows ``labels/<project>/latest.json``).

    Args:
        store: the DataStore.
        project: the project (data set) name.
        version: a version name or ``latest``.

    Returns:
        The version reference and its rows.

    Raises:
        TrainingError: there is no such version, or no labels yet.
        PointerError: ``latest.json`` is not a labels pointer (names the key).
    """
    if version == "latest":
        pointer = read_labels_pointer(store, project)
        if pointer is None:
            raise TrainingError(
                f"no labels for {project!r} yet: {latest_labels_key(project)} is not in "
                f"{store.describe()}"
            )
        ref = LabelsRef(version=pointer.version, key=pointer.key)
    else:
        ref = LabelsRef(version=version, key=labels_key(project, version))
    try:
        frame = store.read_parquet(ref.key)
    except MissingKeyError:
        raise TrainingError(
            f"labels version {ref.version!r} of {project!r}: {ref.key} is not in {store.describe()}"
        ) from None
    get_run_logger().info("Labels %s: %d rows from %s", ref.version, len(frame), ref.key)
    return ref, frame


@task(name="build-features", cache_policy=NO_CACHE, **STORE_RETRIES)
def build_feature_rows(store: DataStore, spec: DatasetSpec, rows: pd.DataFrame) -> Rows:
    """Task wrapper of :func:`feature_rows` (reads every image once).

    Args:
        store: the DataStore.
        spec: the data set spec.
        rows: clean rows.

    Returns:
        The pipeline input.
    """
    return feature_rows(store, spec, rows)


class Candidate(BaseModel):
    """A newly trained model and how it scored.

    Attributes:
        model: fitted on every resolved label.
        metrics: scores over the plan's evaluated items (unseen by the fitted fold).
        plan: the split used.
        predictions: position -> out-of-fold prediction.
        probabilities: out-of-fold class probabilities (index = position), None when the
            estimator has no ``predict_proba``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    model: Pipeline
    metrics: Metrics
    plan: EvaluationPlan
    predictions: dict[int, str]
    probabilities: pd.DataFrame | None = None


@task(name="train-candidate", cache_policy=NO_CACHE)
def train_candidate(
    spec: DatasetSpec,
    estimator: EstimatorSpec | None,
    rows: Rows,
    labels: Sequence[str],
    item_ids: Sequence[str],
    config: EvaluationConfig,
) -> Candidate:
    """Evaluate the pipeline (holdout or cross-validation), then fit it on every label.

    Args:
        spec: the data set spec (its feature spec).
        estimator: the estimator, or None for the modality's default.
        rows: pipeline input, one row per label.
        labels: resolved labels.
        item_ids: one id per row.
        config: the split rule.

    Returns:
        The candidate.

    Raises:
        EvaluationError: too few labels, or a single class.
    """
    plan = plan_evaluation(labels, config)

    def make() -> Pipeline:
        return build_pipeline(spec.features, estimator)

    evaluated = out_of_fold(make, rows, labels, plan)
    predictions = evaluated.predictions
    tested = plan.test_positions
    metrics = compute_metrics(
        [labels[p] for p in tested],
        [predictions[p] for p in tested],
        plan.method,
        [item_ids[p] for p in tested],
    )
    model = make().fit(rows, np.asarray(labels, dtype=str))
    get_run_logger().info(
        "Candidate: %s over %d items, accuracy %.4f, macro F1 %.4f",
        plan.method,
        metrics.n_items,
        metrics.accuracy,
        metrics.macro_f1,
    )
    return Candidate(
        model=model,
        metrics=metrics,
        plan=plan,
        predictions=predictions,
        probabilities=evaluated.probabilities,
    )


class Comparison(BaseModel):
    """The gate's inputs and decision."""

    model_config = ConfigDict(frozen=True)

    new: Metrics
    champion: Metrics | None
    decision: GateDecision


@task(name="gate-candidate", cache_policy=NO_CACHE)
def gate_candidate(
    candidate: Candidate,
    spec: DatasetSpec,
    estimator: EstimatorSpec | None,
    champion: Pipeline | None,
    champion_items: Sequence[str],
    rows: Rows,
    labels: Sequence[str],
    item_ids: Sequence[str],
    config: GateConfig,
    same_pipeline: bool,
) -> Comparison:
    """Pair the challenger with the champion on every label, each predicted by models that
    never trained on it (:func:`learning.training.pair_with_champion`), and decide.

    Args:
        candidate: the new model.
        spec: the data set spec (its feature spec).
        estimator: the candidate's estimator, or None for the modality's default.
        champion: the champion's pipeline, or None.
        champion_items: the items the champion was fitted on.
        rows: pipeline input.
        labels: resolved labels.
        item_ids: one id per row.
        config: the gate's thresholds.
        same_pipeline: the candidate is built as the champion was
            (:func:`learning.registry.same_pipeline`).

    Returns:
        The comparison and the decision.

    Raises:
        TrainingError: the champion cannot score these rows (e.g. other features).
    """
    if champion is None:
        return Comparison(
            new=candidate.metrics,
            champion=None,
            decision=decide_promotion(candidate.metrics, None, config),
        )

    def make() -> Pipeline:
        return build_pipeline(spec.features, estimator)

    outcomes = pair_with_champion(champion, make, rows, labels, item_ids, champion_items)
    if outcomes.n_items:
        champion_metrics = compute_metrics(
            outcomes.truth, outcomes.champion, "fixed_model", outcomes.item_ids
        )
    else:  # not comparable: the champion is scored on the evaluated items for the record
        try:
            champion_metrics = score_model(
                champion, rows, labels, item_ids, candidate.plan.test_positions
            )
        except ValueError as exc:
            raise TrainingError(f"the champion cannot score this data set's rows: {exc}") from exc
    comparison = ChampionComparison(
        outcomes=outcomes,
        new_labels=len(set(item_ids)),
        champion_labels=len(set(champion_items)),
        same_pipeline=same_pipeline,
    )
    decision = decide_promotion(candidate.metrics, comparison, config)
    new = (
        compute_metrics(outcomes.truth, outcomes.new, "cross_validation", outcomes.item_ids)
        if outcomes.n_items
        else candidate.metrics
    )
    get_run_logger().info(
        "Gate on %d paired items (%d of them predicted by the champion's refitted pipeline): %s",
        outcomes.n_items,
        outcomes.champion_refitted,
        decision.summary,
    )
    return Comparison(new=new, champion=champion_metrics, decision=decision)


def utc_now() -> dt.datetime:
    """The current UTC time (one place, so a test can see what a run records)."""
    return dt.datetime.now(dt.UTC)
