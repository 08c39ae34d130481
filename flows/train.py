"""Retrain flow: labels version x clean data -> fit -> evaluate -> gate -> save -> promote.

python flows/train.py --dataset digits
python flows/train.py --dataset digits --labels-version 20240101T120000 --min-improvement 0.01
python flows/train.py --dataset digits --review-label-issues

The labels the run's own out-of-fold model doubts most are listed in an artifact; with
``review_label_issues`` the top ones go back to Label Studio for another annotator, by
the path the monitor flow's disputes take, and the next training holds them until
someone has looked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field, model_validator

from blocks import DataStore, LabelStudioCredentials
from flows.cli import DATASET, Shortcut, run_flow_script
from learning.evaluation import EvaluationConfig, EvaluationError, Metrics
from learning.gate import GateConfig, GateDecision
from learning.label_issues import LabelIssue, rank_label_issues
from learning.pipelines import DEFAULT_ESTIMATORS, EstimatorSpec
from learning.registry import (
    ModelCard,
    code_version,
    history_markdown,
    items_document,
    json_safe_params,
    library_versions,
    model_digest,
    new_version_id,
    refuse_run_trust,
    same_pipeline,
    serialize_model,
)
from learning.training import (
    ITEM_ID,
    LABEL,
    TrainingError,
    confusion_markdown,
    join_labels,
    metrics_table,
)
from monitoring.review import ReviewRequest, hold_for_review, label_issues_to_review
from specs import NAME_PATTERN, DatasetName, DatasetSpec, LabelsVersion, Reason
from storage.layout import clean_prefix
from tasks.consensus import save_out_of_fold
from tasks.datasets import resolve_dataset
from tasks.concurrency import dataset_slot
from tasks.data import load_clean_rows
from tasks.events import MODEL_PROMOTED, MODEL_REJECTED, announce, model_resource
from tasks.monitoring import save_reference_profile
from tasks.review import send_for_review
from tasks.registry import (
    list_model_history,
    load_champion,
    promote_model,
    read_trained_items,
    save_model_version,
)
from tasks.state import read_review_ledger, read_trained_version, record_trained_labels
from tasks.training import (
    build_feature_rows,
    gate_candidate,
    load_labels_version,
    train_candidate,
    utc_now,
)


class TrainParams(BaseModel):
    """Parameters of the retrain flow (the form in the Prefect UI)."""

    dataset: DatasetName | DatasetSpec = Field(
        default="digits",
        description="A data set name (registered, or shipped: digits, texts, iris) or a whole spec; never an "
        "import path.",
    )
    model_name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Registry name (models/<name>/); None = the data set's name.",
    )
    labels_version: LabelsVersion = Field(
        default="latest", description="Labels version to train on, or 'latest'."
    )
    estimator: EstimatorSpec | None = Field(
        default=None, description="Estimator import path and params; None = the modality's default."
    )
    gate: GateConfig = Field(default_factory=GateConfig, description="Promotion thresholds.")
    evaluation: EvaluationConfig = Field(
        default_factory=EvaluationConfig, description="Holdout / cross-validation rule."
    )
    store_block: str | None = Field(
        default=None,
        description=(
            "DataStore block name; None = the local folder $LABELLOOP_HOME/data "
            "(default .labelloop/data)."
        ),
    )
    reason: Reason = Field(
        default=None,
        description="Why this run happened (e.g. the triggering event).",
    )
    hold_disputed: bool = Field(
        default=True,
        description="Leave out items sent back to Label Studio as disputed until someone "
        "has looked at them again (see the monitor flow's request_review).",
    )
    review_label_issues: bool = Field(
        default=False,
        description="Send the top label issues (labels the run's out-of-fold model doubts "
        "most, trained-on items included) back to Label Studio for more annotators, as the "
        "monitor flow's request_review does with disputes (changes what annotators see).",
    )
    label_issue_top: int = Field(
        default=10, ge=1, le=1000, description="Label issues sent back per run, at most."
    )
    label_issue_max_quality: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Only labels whose out-of-fold probability (cleanlab's label quality) "
        "is at most this are sent back.",
    )
    extra_annotators: int = Field(
        default=1, ge=1, le=10, description="More annotators asked for per label issue."
    )
    label_studio_block: str = Field(
        default="local",
        min_length=1,
        description="LabelStudioCredentials block name (used with review_label_issues).",
    )
    only_new_labels: bool = Field(
        default=False,
        description="Skip, announcing nothing, when the last training already used this "
        "labels version (a degraded champion's retrain that a labels.ready retrain beat "
        "to it would train the same model again).",
    )

    @model_validator(mode="before")
    @classmethod
    def _trust_is_not_a_run_parameter(cls, data: Any) -> Any:
        return refuse_run_trust(data)


class TrainResult(BaseModel):
    """What a retrain run did."""

    status: Literal["promoted", "not_promoted", "skipped"]
    message: str
    model_name: str
    labels_version: str | None = None
    version: str | None = None
    champion: str | None = Field(default=None, description="The serving version after the run")
    metrics: Metrics | None = None
    decision: GateDecision | None = None
    labels: int = 0
    used: int = 0
    unresolved: int = 0
    missing_items: int = 0
    held_for_review: int = 0
    review_requested: int = Field(
        default=0, description="Label issues sent back to Label Studio by this run."
    )


@flow(name="retrain-model")
def retrain_model(
    params: TrainParams,
    store: DataStore | None = None,
    credentials: LabelStudioCredentials | None = None,
) -> TrainResult:
    """Train on a labels version and promote the model if the gate lets it through.

    Args:
        params: data set, labels version, estimator, gate and evaluation settings.
        store: a DataStore to use instead of ``params.store_block``.
        credentials: Label Studio credentials instead of ``params.label_studio_block``
            (only read with ``review_label_issues``).

    Returns:
        A :class:`TrainResult`. Too few labels or a single class -> ``skipped``;
        the champion is untouched unless the status is ``promoted``.

    Raises:
        TrainingError: no labels version, no clean data, unreadable images.
        RegistryError: the champion is missing, corrupt or untrusted (nothing changes).
    """
    target = store or DataStore.named(params.store_block)
    spec = resolve_dataset(params.dataset)
    # One retrain of a data set at a time: each reads the champion, then records what it
    # trained on and may replace the champion.
    with dataset_slot("retrain", spec.name):
        return _retrain(params, target, spec, credentials)


def _retrain(
    params: TrainParams,
    target: DataStore,
    spec: DatasetSpec,
    credentials: LabelStudioCredentials | None = None,
) -> TrainResult:
    """The retrain itself: train, gate, save, maybe promote, announce."""
    logger = get_run_logger()
    name = params.model_name or spec.name
    estimator = params.estimator or spec.estimator or DEFAULT_ESTIMATORS[spec.features.modality]

    # The champion is read first: a broken registry stops the run before any work.
    champion = load_champion(target, name, target.trusted_types)
    champion_items = read_trained_items(target, champion.card) if champion else []
    champion_version = champion.card.version if champion else None

    labels_ref, labels = load_labels_version(target, spec.name, params.labels_version)
    trained = read_trained_version(target, spec.name, name) if params.only_new_labels else None
    if trained == labels_ref.version:
        message = f"{name}: labels version {labels_ref.version} already trained on; nothing to do"
        logger.info("%s", message)
        return TrainResult(
            status="skipped",
            message=message,
            model_name=name,
            labels_version=labels_ref.version,
            champion=champion_version,
        )
    version_frame = labels  # the whole version: what waits for review is counted on it
    held: list[str] = []
    if params.hold_disputed:
        labels, held = hold_for_review(labels, read_review_ledger(target, spec.name))
    clean, batches = load_clean_rows(target, spec.name)
    if clean.empty:
        raise TrainingError(
            f"no clean data for {spec.name!r}: nothing under {clean_prefix(spec.name)}"
        )
    joined = join_labels(labels, clean, labels_ref.key)
    counts = {
        "labels": joined.n_labels,
        "used": len(joined.rows),
        "unresolved": joined.n_unresolved,
        "missing_items": len(joined.missing_items),
        "held_for_review": len(held),
    }
    if joined.missing_items:
        logger.warning(
            "%d labelled items of %s are not in the clean data (left out), e.g. %s",
            len(joined.missing_items),
            labels_ref.key,
            joined.missing_items[:5],
        )
    base = {"model_name": name, "labels_version": labels_ref.version, "champion": champion_version}
    rows = build_feature_rows(target, spec, joined.rows)
    labels_list = joined.rows[LABEL].astype(str).tolist()
    item_ids = joined.rows[ITEM_ID].astype(str).tolist()
    try:
        candidate = train_candidate(spec, estimator, rows, labels_list, item_ids, params.evaluation)
    except EvaluationError as exc:
        message = f"not trained on {labels_ref.version} ({len(item_ids)} usable labels): {exc}"
        logger.warning("%s", message)
        _report_skip(name, message, counts)
        record_trained_labels(target, spec.name, name, labels_ref.key)
        result = TrainResult(status="skipped", message=message, **base, **counts)
        _announce_outcome(result, champion_version)
        return result

    comparison = gate_candidate(
        candidate,
        spec,
        estimator,
        champion.model if champion else None,
        champion_items,
        rows,
        labels_list,
        item_ids,
        params.gate,
        same_pipeline(champion.card, spec.features, estimator) if champion else True,
    )
    model_bytes = serialize_model(candidate.model)
    items = items_document(item_ids)
    version = new_version_id(utc_now())
    card = ModelCard(
        name=name,
        version=version,
        dataset=spec.name,
        labels_version=labels_ref.version,
        labels_key=labels_ref.key,
        data_batches=batches,
        n_labelled=len(item_ids),
        n_trained=len(set(item_ids)),
        classes=[str(c) for c in candidate.model.classes_],
        features=spec.features,
        estimator=estimator,
        estimator_params=json_safe_params(
            candidate.model.named_steps["model"].get_params(deep=False)
        ),
        metrics=candidate.metrics,
        champion_version=champion_version,
        champion_metrics=comparison.champion,
        holdout_digest=candidate.metrics.evaluated_digest,
        gate=comparison.decision,
        code_version=code_version(),
        library_versions=library_versions(),
        model_sha256=model_digest(model_bytes),
        items_sha256=model_digest(items),
        created_at=utc_now(),
        reason=params.reason,
    )
    save_model_version(target, card, model_bytes, items)
    save_reference_profile(target, card, joined.rows, rows, candidate.probabilities)
    save_out_of_fold(target, card, item_ids, candidate.probabilities)
    issues = (
        rank_label_issues(item_ids, labels_list, candidate.probabilities, top=None)
        if candidate.probabilities is not None
        else []
    )
    record_trained_labels(target, spec.name, name, labels_ref.key)

    serving = champion_version
    if comparison.decision.promote:
        pointer = promote_model(
            target, name, version, champion_version, params.reason, target.trusted_types
        )
        serving = pointer.version
    status: Literal["promoted", "not_promoted"] = (
        "promoted" if comparison.decision.promote else "not_promoted"
    )
    message = f"{name} {version}: {comparison.decision.summary}; serving {serving}"
    logger.info("%s", message)
    _report(name, card, comparison.decision, list_model_history(target, name), serving, counts)
    result = TrainResult(
        status=status,
        message=message,
        model_name=name,
        labels_version=labels_ref.version,
        version=version,
        champion=serving,
        metrics=candidate.metrics,
        decision=comparison.decision,
        **counts,
    )
    _announce_outcome(result, champion_version)
    # After the announcement: Label Studio being away fails the run, never the promotion.
    sent: list[ReviewRequest] = []
    if params.review_label_issues and issues:
        chosen = label_issues_to_review(
            issues, params.label_issue_top, params.label_issue_max_quality
        )
        if chosen:
            sent, _ = send_for_review(
                target,
                credentials or LabelStudioCredentials.load(params.label_studio_block),
                spec,
                version_frame,
                chosen,
                labels_version=labels_ref.version,
                model_version=version,
                extra_annotators=params.extra_annotators,
                reason="label_issue",
            )
    if candidate.probabilities is not None:
        _report_label_issues(name, card, issues, {r.item_id for r in sent})
    return result.model_copy(update={"review_requested": len(sent)})


def _announce_outcome(result: TrainResult, previous: str | None) -> None:
    """`model.promoted` for a new champion, else `model.rejected` (a worse candidate, or
    too few usable labels to train one).

    Either way the labels were used: the push deployment follows both events with the
    next batch, so annotators never wait on a model the gate kept out.

    Args:
        result: what the run did.
        previous: the champion before the run.
    """
    payload = {
        "version": result.version,
        "status": result.status,
        "message": result.message,
        "reason": result.decision.summary if result.decision else result.message,
        "gate": (
            result.decision.model_dump(
                mode="json",
                include={"outcome", "paired", "new_labels", "champion_labels"},
            )
            if result.decision
            else None
        ),
        "metrics": (
            {"accuracy": result.metrics.accuracy, "macro_f1": result.metrics.macro_f1}
            if result.metrics
            else {}
        ),
        "labels_version": result.labels_version,
        "labels": result.used,
        "previous_version": previous,
        "champion": result.champion,
    }
    event = MODEL_PROMOTED if result.status == "promoted" else MODEL_REJECTED
    announce(event, model_resource(result.model_name), payload)


def _artifact_key(name: str, what: str) -> str:
    return f"{name}-{what}".lower().replace("_", "-")


def _report(
    name: str,
    card: ModelCard,
    decision: GateDecision,
    history: list[ModelCard],
    serving: str | None,
    counts: dict[str, int],
) -> None:
    """Metrics table, confusion matrix with the gate's reasons, and the version history."""
    create_table_artifact(
        key=_artifact_key(name, "metrics"),
        table=metrics_table(card.metrics),
        description=f"{name} {card.version} on labels {card.labels_version}",
    )
    reasons = "\n".join(f"- {reason}" for reason in decision.reasons)
    create_markdown_artifact(
        key=_artifact_key(name, "evaluation"),
        markdown=(
            f"# {name} {card.version}: {'promoted' if decision.promote else 'not promoted'}\n\n"
            f"Labels {card.labels_version}: {counts['labels']} rows, {counts['used']} used, "
            f"{counts['unresolved']} unresolved, {counts['missing_items']} not in the clean data, "
            f"{counts['held_for_review']} disputed and waiting for review.\n\n"
            f"## Gate (vs {decision.reference})\n\n{reasons}\n\n"
            f"## Confusion matrix ({card.metrics.method}, {card.metrics.n_items} items)\n\n"
            f"{confusion_markdown(card.metrics)}\n"
        ),
        description=f"{name} {card.version} evaluation",
    )
    create_markdown_artifact(
        key=_artifact_key(name, "history"),
        markdown=f"# {name} versions (serving: {serving})\n\n{history_markdown(history, serving)}\n",
        description=f"{name} version history",
    )


def _report_label_issues(
    name: str, card: ModelCard, issues: list[LabelIssue], sent: set[str], top: int = 20
) -> None:
    """The labels the run's out-of-fold probabilities doubt most (for a person to check),
    and which of them went back to Label Studio."""
    shown = issues[:top] + [i for i in issues[top:] if i.item_id in sent]
    create_table_artifact(
        key=_artifact_key(name, "label-issues"),
        table=[
            {**issue.model_dump(), "review": "requested" if issue.item_id in sent else ""}
            for issue in shown
        ]
        or [{"item_id": "", "label": "", "predicted": "no label doubted", "quality": ""}],
        description=f"{name} {card.version}: labels of {card.labels_version} its out-of-fold "
        "model doubts most, lowest cleanlab label quality first",
    )


def _report_skip(name: str, message: str, counts: dict[str, int]) -> None:
    create_markdown_artifact(
        key=_artifact_key(name, "evaluation"),
        markdown=f"# {name}: not trained\n\n{message}\n\nCounts: {json.dumps(counts)}\n",
        description=f"{name}: not trained",
    )


def _estimator(text: str, given: Mapping[str, Any]) -> Any:
    """`--estimator`: JSON of an EstimatorSpec, or an import path (`--estimator-params`)."""
    if text.lstrip().startswith("{"):
        return json.loads(text)
    return {"import_path": text, "params": json.loads(given.get("--estimator-params") or "{}")}


SHORTCUTS = [
    DATASET,
    Shortcut(
        "--estimator",
        "estimator",
        "estimator import path, or JSON of the whole spec",
        convert=_estimator,
    ),
    Shortcut("--estimator-params", None, "JSON keyword arguments of --estimator"),
    Shortcut("--metric", "gate.metric", "same as --gate-metric"),
    Shortcut("--min-improvement", "gate.min_improvement", "same as --gate-min-improvement"),
    Shortcut("--max-regression", "gate.max_regression", "same as --gate-max-regression"),
    Shortcut("--confidence", "gate.confidence", "same as --gate-confidence"),
    Shortcut("--class-tolerance", "gate.class_tolerance", "same as --gate-class-tolerance"),
]


if __name__ == "__main__":
    run_flow_script(retrain_model, TrainParams, __doc__, SHORTCUTS)
