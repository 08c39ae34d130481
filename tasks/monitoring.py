"""Drift monitoring tasks: the reference profile saved with a trained model, and the drift
check of each cleansed batch against the champion's profile.

Statistics and decisions are pure (`monitoring`); these tasks read and write the
DataStore, score the batch with the champion (`tasks.predict.probabilities`), save the
report and emit `labelloop.data.drifted`. The check runs in the task announcing the batch
(`tasks.cleanse.announce_batch`), whose artifact shows the report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from blocks import DataStore
from blocks.data_store import MissingKeyError
from learning.registry import ModelCard, RegistryError, refuse_run_trust
from learning.threads import one_blas_thread
from learning.training import LABEL, TrainingError
from monitoring.decisions import drift_event
from monitoring.inputs import monitored_frame
from monitoring.profile import (
    DriftRecord,
    DriftReport,
    DriftThresholds,
    ReferenceProfile,
    ReliabilityBin,
    build_profile,
    compare,
    not_checked,
    prediction_profile,
)
from specs import NAME_PATTERN, DatasetName, DatasetSpec, SpecError
from storage.layout import drift_report_key, profile_key
from tasks.datasets import resolve_dataset
from tasks.data import Rows, feature_rows
from tasks.events import announce
from tasks.predict import probabilities
from tasks.registry import STORE_RETRIES, LoadedModel, load_champion_model


def build_reference_profile(
    card: ModelCard, rows: pd.DataFrame, model_input: Rows, evaluated: pd.DataFrame | None
) -> ReferenceProfile:
    """The reference profile of a newly trained model.

    Args:
        card: the new version's card (its feature spec and classes).
        rows: the training rows (clean rows joined with their labels).
        model_input: what the model was fitted on (pixels for images, else ``rows``).
        evaluated: out-of-fold (or holdout) class probabilities of the evaluated rows;
            None when the estimator has no ``predict_proba``.

    Returns:
        The data section from every training row; the prediction section from the
        evaluated rows (a model is over-confident on the rows it was fitted on), with
        how often the model was right at each confidence there (the expectation that
        live accuracy is judged against).
    """
    pixels = model_input if card.features.modality == "image" else None
    monitored = monitored_frame(card.features, rows, pixels)
    profile = build_profile(monitored.frame, kinds=monitored.kinds)
    if evaluated is None or evaluated.empty:
        return profile
    labels = (  # training rows carry their labels; without them, no reliability bins
        rows[LABEL].astype(str).iloc[evaluated.index.to_numpy()].tolist()
        if LABEL in rows.columns
        else None
    )
    return profile.model_copy(
        update={"predictions": prediction_profile(evaluated, labels=labels)}
    )


@task(name="save-reference-profile", cache_policy=NO_CACHE, **STORE_RETRIES)
def save_reference_profile(
    store: DataStore,
    card: ModelCard,
    rows: pd.DataFrame,
    model_input: Rows,
    evaluated: pd.DataFrame | None,
) -> str:
    """Build a new version's reference profile and save it beside the model.

    Args:
        store: the DataStore of the registry.
        card: the version's card.
        rows: the training rows.
        model_input: what the model was fitted on.
        evaluated: out-of-fold class probabilities (see :func:`build_reference_profile`).

    Returns:
        The profile's store key (``models/<name>/<version>/reference_profile.json``).
    """
    profile = build_reference_profile(card, rows, model_input, evaluated)
    key = profile_key(card.name, card.version)
    document = profile.model_dump_json().encode()
    store.write_bytes(key, document)
    get_run_logger().info(
        "Reference profile of %s %s: %d rows, %d features, predictions of %s evaluated rows, "
        "%d bytes at %s",
        card.name,
        card.version,
        profile.n_rows,
        len(profile.features),
        profile.predictions.class_mix.n if profile.predictions else "no",
        len(document),
        key,
    )
    return key


class DriftReference(BaseModel):
    """What a cleanse run compares its batches with: the champion and its profile, or why
    there is nothing to compare with."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    model_name: str
    champion: LoadedModel | None = None
    profile: ReferenceProfile | None = None
    spec: DatasetSpec | None = None
    reason: str | None = Field(
        default=None, description="Why drift cannot be checked (then the other fields are None)."
    )

    @property
    def version(self) -> str | None:
        """The champion's version, if there is one."""
        return self.champion.card.version if self.champion else None


def read_reference(
    store: DataStore,
    model_name: str,
    dataset: str | DatasetSpec,
    extra_trusted: Sequence[str] = (),
) -> DriftReference:
    """The champion and its reference profile, or the reason drift cannot be checked.

    A registry problem is not the cleanse's problem: a missing, damaged or untrusted
    champion, a champion trained before monitoring (no profile) or an unreadable profile
    become the reason, and the batches are cleansed anyway.

    Args:
        store: the DataStore of the registry.
        model_name: the data set's model.
        dataset: the data set spec (or its name / import path): how to read the images.
        extra_trusted: types trusted when loading the champion.

    Returns:
        The reference.
    """
    try:
        champion = load_champion_model(store, model_name, extra_trusted)
    except RegistryError as exc:
        return DriftReference(
            model_name=model_name,
            reason=f"the champion of {model_name} cannot be loaded: {exc}; drift not checked",
        )
    if champion is None:
        return DriftReference(
            model_name=model_name,
            reason=f"model {model_name} has no champion yet: drift not checked",
        )
    version = champion.card.version
    key = profile_key(model_name, version)
    try:
        profile = ReferenceProfile.model_validate_json(store.read_bytes(key))
    except MissingKeyError:
        return DriftReference(
            model_name=model_name,
            reason=(
                f"champion {model_name} {version} has no reference profile (it was trained "
                "before drift monitoring): drift not checked; the next trained version will "
                "have one"
            ),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        return DriftReference(
            model_name=model_name,
            reason=(
                f"reference profile {key} of champion {version} is unreadable "
                f"({first['msg']} at {list(first['loc'])}): drift not checked"
            ),
        )
    try:
        spec = resolve_dataset(dataset)
    except SpecError as exc:
        return DriftReference(
            model_name=model_name,
            reason=f"{exc}: the batches cannot be read as the champion reads them; drift not checked",
        )
    return DriftReference(model_name=model_name, champion=champion, profile=profile, spec=spec)


def batch_report(
    store: DataStore,
    clean_key: str | None,
    clean_rows: int,
    reference: DriftReference,
    thresholds: DriftThresholds,
) -> DriftReport:
    """Compare one clean batch (and the champion's predictions on it) with the profile.

    Args:
        store: the DataStore holding the batch and its images.
        clean_key: the batch's clean parquet; None when no row came out clean.
        clean_rows: its row count (for reports that read nothing).
        reference: the champion and profile, or why there are none.
        thresholds: when a feature counts as drifted.

    Returns:
        The report; problems reading the batch the champion's way are messages in it.
    """
    if reference.reason or reference.champion is None or reference.spec is None:
        return not_checked(clean_rows, reference.reason or "no champion", thresholds)
    if clean_key is None:
        return not_checked(0, "no clean rows in this batch: nothing compared", thresholds)
    clean = store.read_parquet(clean_key)
    card = reference.champion.card
    try:
        model_input = feature_rows(store, reference.spec, clean)
    except TrainingError as exc:
        return not_checked(
            len(clean), f"the batch cannot be read as the champion reads it: {exc}", thresholds
        )
    pixels = model_input if card.features.modality == "image" else None
    monitored = monitored_frame(card.features, clean, pixels)
    profiled = reference.profile.columns if reference.profile else {}
    lacking = [c for c in profiled if c not in monitored.frame.columns]
    predictions = None
    note = None
    if lacking:
        note = f"the champion's predictions were not checked: the batch lacks its inputs {lacking}"
    else:
        try:
            with one_blas_thread():  # a batch is small: see learning.threads
                classes, proba = probabilities(reference.champion.model, model_input)
            predictions = pd.DataFrame(proba, columns=classes)
        except ValueError as exc:  # e.g. a column of another type than the champion's
            note = f"the champion cannot score this batch ({exc}): its predictions were not checked"
    report = compare(reference.profile, monitored.frame, predictions, thresholds)
    if note:
        report = report.model_copy(update={"messages": [*report.messages, note]})
    return report


class BatchDrift(BaseModel):
    """The drift check of one batch, as the cleanse result shows it."""

    batch_id: str
    checked: bool
    drifted: bool
    drifted_columns: list[str] = Field(default_factory=list)
    model_version: str | None = None
    report_key: str
    event_id: str | None = None
    messages: list[str] = Field(default_factory=list)


class DriftMonitoring(BaseModel):
    """Drift checks of cleansed batches against the champion's reference profile (the
    cleanse flow's ``drift`` parameters)."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = Field(
        default=True, description="Check every clean batch for drift (off: cleanse only)."
    )
    thresholds: DriftThresholds = Field(
        default_factory=DriftThresholds, description="When a batch counts as drifted."
    )
    model_name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="The model whose champion is the reference; None = the data set's name.",
    )
    dataset_spec: DatasetName | DatasetSpec | None = Field(
        default=None,
        description="How the champion reads the rows (images); None = the shipped spec of the data set.",
    )

    @model_validator(mode="before")
    @classmethod
    def _trust_is_not_a_run_parameter(cls, data: Any) -> Any:
        return refuse_run_trust(data)


def check_batch_drift(
    store: DataStore,
    dataset: str,
    batch_id: str,
    clean_key: str | None,
    clean_rows: int,
    settings: DriftMonitoring,
) -> DriftRecord:
    """Check a cleansed batch for drift and save the report
    (``monitoring/drift/<dataset>/<batch>.json``).

    Runs inside the task publishing the batch (``tasks.cleanse.announce_batch``), whose
    artifact shows the report and which then calls :func:`announce_drift`: a task run and
    an artifact of its own per batch cost the Prefect server more than the check itself.

    Args:
        store: the DataStore (registry, clean batch, images, reports).
        dataset: the data set name.
        batch_id: the batch.
        clean_key: its clean parquet (None when nothing came out clean).
        clean_rows: its clean row count.
        settings: the model (None = the data set's), how to read its rows, thresholds.

    Returns:
        The record saved: the report, checked or why not, and the champion compared with.
    """
    reference = read_reference(
        store,
        settings.model_name or dataset,
        settings.dataset_spec or dataset,
        store.trusted_types,
    )
    report = batch_report(store, clean_key, clean_rows, reference, settings.thresholds)
    record = DriftRecord(
        dataset=dataset,
        batch_id=batch_id,
        model_name=reference.model_name,
        model_version=reference.version,
        checked_at=dt.datetime.now(dt.UTC),
        report=report,
    )
    key = drift_report_key(dataset, batch_id)
    store.write_bytes(key, record.model_dump_json(indent=1).encode())
    return record


def announce_drift(record: DriftRecord) -> BatchDrift:
    """Emit ``labelloop.data.drifted`` when the batch drifted, and log the verdict.

    Args:
        record: the batch's saved record (:func:`check_batch_drift`).

    Returns:
        The outcome: checked or why not, drifted columns, report key, the event's id.
    """
    report, version = record.report, record.model_version
    dataset, batch_id = record.dataset, record.batch_id
    key = drift_report_key(dataset, batch_id)
    event = drift_event(report, dataset, batch_id, model_version=version, report_key=key)
    event_id = announce(event.event, event.resource, event.payload) if event else None
    if report.drifted:
        verdict = f"drifted from champion {version}: {', '.join(report.drifted_columns)}"
    elif report.checked:
        verdict = f"no drift from champion {version} ({len(report.features)} features)"
    else:
        verdict = "drift not checked"
    notes = "".join(f"; {m}" for m in report.messages)
    log = get_run_logger().warning if report.drifted else get_run_logger().info
    log("%s batch %s: %s%s", dataset, batch_id, verdict, notes)
    return BatchDrift(
        batch_id=batch_id,
        checked=report.checked,
        drifted=report.drifted,
        drifted_columns=report.drifted_columns,
        model_version=version,
        report_key=key,
        event_id=event_id,
        messages=report.messages,
    )


@task(name="read-reliability", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_reliability(store: DataStore, model_name: str, version: str) -> list[ReliabilityBin]:
    """The champion's accuracy by confidence at training, from its reference profile.

    Empty when the version has no profile, an unreadable one, or one saved before the
    profile kept it: live accuracy is then judged against the holdout accuracy.

    Args:
        store: the DataStore of the registry.
        model_name: the model.
        version: the champion's version.

    Returns:
        The reliability bins (see `monitoring.profile.reliability_bins`).
    """
    try:
        profile = ReferenceProfile.model_validate_json(
            store.read_bytes(profile_key(model_name, version))
        )
    except (MissingKeyError, ValidationError) as exc:
        get_run_logger().info(
            "no reliability of %s %s (%s): live accuracy is judged against the holdout",
            model_name,
            version,
            type(exc).__name__,
        )
        return []
    return profile.predictions.reliability if profile.predictions else []
