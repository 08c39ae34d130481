"""Monitor flow: the champion judged on labels it never trained on; degraded models; disputed labels.

python flows/monitor.py --dataset digits
python flows/monitor.py --dataset digits --labels-version 20261122T072219169285Z-63282f --request-review

For one labels version: the labelled items the champion was not fitted on (its
``items.json``) are an honest test. Accuracy (Wilson interval) and macro-F1 (bootstrap
interval), per class and n, go into the model's series
(``models/<model>/monitoring/live_accuracy.json``; a rerun replaces its point). When
live accuracy falls below the champion's accuracy at training by more than ``margin``
and its interval excludes chance, ``labelloop.model.degraded`` is sent, once per
champion version; the retrain deployment reacts to it. Items whose human label the
champion confidently disputes are written to
``labels/<project>/disputed/<labels version>.parquet``, listed in an artifact, and with
``request_review`` sent back to Label Studio for one more annotator; training leaves
them out until someone has looked.
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field, model_validator

from annotation.versions import people_labels
from blocks import DataStore, LabelStudioCredentials
from learning.registry import refuse_run_trust
from flows.cli import DATASET, run_flow_script
from learning.training import ITEM_ID, LABEL, join_labels
from monitoring.decisions import (
    DisputedLabel,
    LiveAccuracy,
    degradation,
    degraded_event,
    disputed,
    expected_accuracy,
    flag_disputed,
    live_accuracy,
    unseen_labels,
)
from monitoring.live import live_report_markdown
from monitoring.review import ReviewRequest, disputes_markdown, waiting_for_review
from specs import NAME_PATTERN, DatasetName, DatasetSpec, LabelsVersion, Reason
from tasks.datasets import resolve_dataset
from tasks.concurrency import dataset_slot
from tasks.data import load_clean_rows
from tasks.events import announce
from tasks.live import read_live_series, save_live_series, write_disputed_labels
from tasks.monitoring import read_reliability
from tasks.predict import predict_probabilities
from tasks.registry import load_champion, read_trained_items
from tasks.review import send_for_review
from tasks.state import read_degraded_log, read_review_ledger, save_degraded_log
from tasks.training import build_feature_rows, load_labels_version


class MonitorParams(BaseModel):
    """Parameters of the monitor flow (the form in the Prefect UI)."""

    dataset: DatasetName | DatasetSpec = Field(
        default="digits",
        description="A data set name (registered, or shipped: digits, texts, iris) or a whole spec; never an "
        "import path.",
    )
    model_name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Registry name; None = the data set's name.",
    )
    labels_version: LabelsVersion = Field(
        default="latest", description="Labels version to judge on, or 'latest'."
    )
    margin: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="How far live accuracy may fall below the accuracy at training before "
        "the champion counts as degraded.",
    )
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1, description="Level of the accuracy and macro-F1 intervals."
    )
    dispute_threshold: float = Field(
        default=0.9,
        gt=0.5,
        le=1,
        description="Probability the champion must give another class to dispute a label.",
    )
    request_review: bool = Field(
        default=False,
        description="Send disputed items back to Label Studio for more annotators (changes "
        "what annotators see: the tasks re-enter their queue).",
    )
    extra_annotators: int = Field(
        default=1, ge=1, le=10, description="More annotators asked for per disputed task."
    )
    store_block: str | None = Field(
        default=None,
        description=(
            "DataStore block name; None = the local folder $LABELLOOP_HOME/data "
            "(default .labelloop/data)."
        ),
    )
    label_studio_block: str = Field(
        default="local",
        min_length=1,
        description="LabelStudioCredentials block name (used with request_review).",
    )
    reason: Reason = Field(
        default=None,
        description="Why this run happened (set by triggers).",
    )

    @model_validator(mode="before")
    @classmethod
    def _trust_is_not_a_run_parameter(cls, data: Any) -> Any:
        return refuse_run_trust(data)


class MonitorResult(BaseModel):
    """What a monitor run found."""

    status: Literal["scored", "no_unseen_items", "no_champion"]
    message: str
    model_name: str
    model_version: str | None = None
    labels_version: str | None = None
    live: LiveAccuracy | None = None
    holdout_accuracy: float | None = None
    degraded: bool = False
    announced: bool = False
    disputed: int = 0
    review_requested: int = 0
    waiting_for_review: int = 0


@flow(name="monitor-model")
def monitor_model(
    params: MonitorParams,
    store: DataStore | None = None,
    credentials: LabelStudioCredentials | None = None,
) -> MonitorResult:
    """Judge the champion on a labels version's items it never saw; report, announce, flag.

    Args:
        params: data set, labels version, margin, thresholds, review settings.
        store: a DataStore to use instead of ``params.store_block``.
        credentials: Label Studio credentials instead of ``params.label_studio_block``
            (only read with ``request_review``).

    Returns:
        A :class:`MonitorResult`. No champion, or no unseen labelled item: a message, no
        event, nothing flagged.

    Raises:
        TrainingError: no labels version, or it cannot be joined with the clean data.
        RegistryError: the champion is missing, corrupt or untrusted.
    """
    target = store or DataStore.named(params.store_block)
    spec = resolve_dataset(params.dataset)
    # One monitor of a data set at a time: each reads and replaces the model's live
    # accuracy series, its degraded log and the review ledger.
    with dataset_slot("monitor", spec.name):
        return _monitor(params, target, credentials, spec)


def _monitor(
    params: MonitorParams,
    target: DataStore,
    credentials: LabelStudioCredentials | None,
    spec: DatasetSpec,
) -> MonitorResult:
    """The monitoring itself: score unseen labels, record, announce, flag disputes."""
    logger = get_run_logger()
    name = params.model_name or spec.name
    report_key = f"{name}-live-accuracy".lower().replace("_", "-")

    champion = load_champion(target, name, target.trusted_types)
    if champion is None:
        message = f"model {name} has no champion yet: nothing to monitor"
        logger.info("%s", message)
        create_markdown_artifact(
            key=report_key, markdown=f"# Live accuracy of {name}\n\n{message}.\n"
        )
        return MonitorResult(status="no_champion", message=message, model_name=name)
    card = champion.card
    holdout = card.metrics.accuracy
    labels_ref, version = load_labels_version(target, spec.name, params.labels_version)
    # judged against the people's majority, not the consensus the champion helped decide
    labels = people_labels(version)

    unseen = unseen_labels(labels, read_trained_items(target, card))
    clean, _ = load_clean_rows(target, spec.name)
    scored = join_labels(unseen, clean, labels_ref.key).rows
    disputes: list[DisputedLabel] = []
    expected: float | None = None  # accuracy at training at the scored items' confidence
    if scored.empty:
        why = _nothing_to_score(labels_ref.version, len(labels), len(unseen))
        live = live_accuracy(
            [],
            [],
            labels_version=labels_ref.version,
            model_version=card.version,
            confidence=params.confidence,
        ).model_copy(update={"reason": why})
    else:
        rows = build_feature_rows(target, spec, scored)
        classes, proba = predict_probabilities(champion.model, rows)
        predicted = [classes[i] for i in proba.argmax(axis=1)]
        live = live_accuracy(
            scored[LABEL].astype(str).tolist(),
            predicted,
            labels_version=labels_ref.version,
            model_version=card.version,
            confidence=params.confidence,
        )
        disputes = disputed(scored, proba, classes, params.dispute_threshold)
        expected = expected_accuracy(
            proba.max(axis=1), read_reliability(target, name, card.version)
        )

    series = read_live_series(target, name).with_point(live)
    save_live_series(target, series)
    decision = degradation(live, holdout, params.margin, len(card.classes), expected)
    event = degraded_event(
        live, holdout, params.margin, len(card.classes), model=name, expected=expected
    )
    log = read_degraded_log(target, name)
    announced = log.should_announce(event)
    if event is not None and announced:
        announce(event.event, event.resource, {**event.payload, "dataset": spec.name})
        save_degraded_log(target, log.with_announced(event))
        logger.warning("Announced %s: %s", event.event, decision.reason)
    else:
        logger.info("%s", decision.reason)
    create_markdown_artifact(
        key=report_key,
        markdown=live_report_markdown(series, live, holdout, decision, announced),
        description=f"{name} {card.version} on labels {labels_ref.version}",
    )

    write_disputed_labels(target, spec.name, labels_ref.version, flag_disputed(labels, disputes))
    requested, waiting = _review(
        params, target, credentials, spec, labels, labels_ref.version, card.version, disputes
    )
    task_ids = {
        str(item): int(task) for item, task in zip(labels[ITEM_ID], labels["task_id"], strict=True)
    }
    create_markdown_artifact(
        key=f"{spec.name}-disputed-labels".lower().replace("_", "-"),
        markdown=disputes_markdown(
            disputes,
            task_ids,
            labels_version=labels_ref.version,
            model_version=card.version,
            threshold=params.dispute_threshold,
            scored=live.n,
            requested=requested,
            waiting=waiting,
        ),
        description=f"labels of {labels_ref.version} that {name} {card.version} disputes",
    )
    status: Literal["scored", "no_unseen_items"] = "scored" if live.n else "no_unseen_items"
    message = decision.reason if live.n else (live.reason or "nothing to score")
    return MonitorResult(
        status=status,
        message=message,
        model_name=name,
        model_version=card.version,
        labels_version=labels_ref.version,
        live=live,
        holdout_accuracy=holdout,
        degraded=decision.degraded,
        announced=announced,
        disputed=len(disputes),
        review_requested=len(requested),
        waiting_for_review=waiting,
    )


def _nothing_to_score(labels_version: str, n_labels: int, n_unseen: int) -> str:
    if n_unseen == 0:
        return (
            f"labels version {labels_version} has no items the champion was not trained on "
            f"(all {n_labels} were in its training data)"
        )
    return (
        f"labels version {labels_version} has {n_unseen} items the champion was not trained "
        "on, but none has a resolved label and a row in the clean data"
    )


def _review(
    params: MonitorParams,
    store: DataStore,
    credentials: LabelStudioCredentials | None,
    spec: DatasetSpec,
    labels: pd.DataFrame,
    labels_version: str,
    model_version: str,
    disputes: list[DisputedLabel],
) -> tuple[list[ReviewRequest], int]:
    """Send new disputes back to Label Studio (with ``request_review``); count the waiting."""
    if not params.request_review:
        return [], len(waiting_for_review(read_review_ledger(store, spec.name), labels))
    return send_for_review(
        store,
        credentials or LabelStudioCredentials.load(params.label_studio_block),
        spec,
        labels,
        disputes,
        labels_version=labels_version,
        model_version=model_version,
        extra_annotators=params.extra_annotators,
    )


SHORTCUTS = [DATASET]

if __name__ == "__main__":
    run_flow_script(monitor_model, MonitorParams, __doc__, SHORTCUTS)
