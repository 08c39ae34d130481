"""The model registry's format: safe serialization, model cards, the champion pointer.

Pure (bytes in, bytes out); ``tasks.registry`` puts these into the DataStore under the
keys of ``storage.layout``: per version the fitted pipeline (skops format), the item ids
it was fitted on (sorted JSON list) and the ModelCard (written last: a version is
complete when its card exists); per model the ChampionPointer naming the serving version.

Loading never unpickles: a model file is read with ``skops.io`` and refused unless
every type it holds is trusted by skops itself (scikit-learn, numpy) or listed in
:data:`TRUSTED_TYPES` (or the caller's explicit extra list). Someone who can write to
the bucket can therefore replace a model with a worse one, but cannot make the loop
run code. The card's ``model_sha256`` detects a file that was damaged or replaced
after it was saved; being in the same bucket, it is no protection against an attacker.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import subprocess
import zipfile
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import skops.io as sio
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sklearn.pipeline import Pipeline
from skops.io.exceptions import UntrustedTypesFoundException

from learning.evaluation import Metrics
from learning.gate import GateDecision
from learning.pipelines import EstimatorSpec, FeatureSpec
from storage.layout import RegistryError, check_model_name, check_version_id

# Types skops does not trust by default that labelloop's own pipelines contain.
TRUSTED_TYPES: tuple[str, ...] = (
    "learning.pipelines.PixelScaler",
    "learning.pipelines.KernelLogisticRegression",
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
CARD_FORMAT = 1


class ModelNotFoundError(RegistryError):
    """A version (or its files) named by a pointer or a caller is not in the store."""


class CorruptModelError(RegistryError):
    """A model file, card or pointer cannot be read, or differs from what was saved."""


class UntrustedModelError(RegistryError):
    """A model file holds types outside the trusted list: it is never loaded."""


def new_version_id(now: dt.datetime | None = None, token: str | None = None) -> str:
    """A new version id; ids sort by creation time (UTC, microseconds), then by token.

    Args:
        now: the creation time (aware); the current UTC time if None.
        token: 6 lower-case hex digits; random if None.

    Returns:
        The id, e.g. ``20240101T120000123456Z-ab12cd``.

    Raises:
        RegistryError: ``now`` is naive or ``token`` is not 6 hex digits.
    """
    when = now or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        raise RegistryError("new_version_id needs an aware datetime (UTC)")
    suffix = token if token is not None else secrets.token_hex(3)
    return check_version_id(f"{when.astimezone(dt.UTC):%Y%m%dT%H%M%S%f}Z-{suffix}")


def items_document(item_ids: Sequence[str]) -> bytes:
    """The items file: sorted, unique item ids as a JSON list.

    Args:
        item_ids: the ids a model was fitted on.

    Returns:
        The file's bytes (hash them for the card).
    """
    return json.dumps(sorted(set(item_ids))).encode()


class ModelCard(BaseModel):
    """Everything needed to know what a model version is and where it came from.

    Attributes:
        name / version: the registry entry.
        dataset: the data set spec's name.
        labels_version / labels_key: the labels version trained on, and its store key.
        data_batches: the clean batch keys whose rows were joined with the labels.
        n_labelled: labelled items used (train + holdout).
        n_trained: items the saved model was fitted on (listed in ``items.json``).
        classes: the classes the model predicts.
        features / estimator: how the pipeline was built.
        estimator_params: the fitted estimator's ``get_params()`` (JSON-safe).
        metrics: the new model on the holdout (or cross-validation).
        champion_version / champion_metrics: the champion it was compared with.
        holdout_digest: fingerprint of the evaluated items.
        gate: the promotion decision and its reasons.
        code_version: git sha of the code, else the package version.
        library_versions: scikit-learn, skops, numpy versions.
        model_sha256: sha256 of ``model.skops`` (detects damage, not attacks).
        items_sha256: sha256 of ``items.json``.
        created_at: when the version was saved.
        reason: why the training ran (e.g. the triggering event).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = CARD_FORMAT
    name: str
    version: str
    dataset: str
    labels_version: str
    labels_key: str
    data_batches: list[str]
    n_labelled: int = Field(ge=0)
    n_trained: int = Field(ge=0)
    classes: list[str]
    features: FeatureSpec
    estimator: EstimatorSpec
    estimator_params: dict[str, Any]
    metrics: Metrics
    champion_version: str | None = None
    champion_metrics: Metrics | None = None
    holdout_digest: str | None
    gate: GateDecision
    code_version: str
    library_versions: dict[str, str]
    model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    items_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: dt.datetime
    reason: str | None = None

    @field_validator("version")
    @classmethod
    def _version_ok(cls, version: str) -> str:
        return check_version_id(version)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, name: str) -> str:
        return check_model_name(name)


def same_pipeline(card: ModelCard, features: FeatureSpec, estimator: EstimatorSpec) -> bool:
    """Whether a new model is built as the carded one was: same features, same estimator
    spec (import path and the parameters asked for). Only then is a challenger on more
    labels presumed no worse without evidence.

    Args:
        card: the champion's card.
        features: the new model's feature spec.
        estimator: the new model's estimator spec (the modality's default resolved).

    Returns:
        True when both match.
    """
    return card.features == features and card.estimator == estimator


class ChampionPointer(BaseModel):
    """Which version serves, and how it got there.

    Attributes:
        name: the model name.
        version: the serving version.
        previous_version: the version it replaced (None for the first).
        action: ``promote`` (by the gate) or ``rollback`` (by a person).
        changed_at: when the pointer was written.
        reason: free text (the run's cause, or who rolled back and why).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    previous_version: str | None
    action: Literal["promote", "rollback"]
    changed_at: dt.datetime
    reason: str | None = None

    @field_validator("version")
    @classmethod
    def _version_ok(cls, version: str) -> str:
        return check_version_id(version)


def serialize_model(model: Pipeline) -> bytes:
    """A fitted pipeline as skops bytes (never pickle).

    Args:
        model: the fitted pipeline.

    Returns:
        The ``.skops`` file's bytes.
    """
    return sio.dumps(model)


def model_digest(data: bytes) -> str:
    """Hex sha256 of a model file.

    Args:
        data: the file's bytes.

    Returns:
        The digest.
    """
    return hashlib.sha256(data).hexdigest()


def refuse_run_trust(data: Any) -> Any:
    """Refuse run parameters that carry ``trusted_types`` (a Params model's before-validator).

    What the model loader trusts is an administrator's setting (the DataStore block's
    ``trusted_types``): a run, or an event that starts one, cannot widen it.

    Raises:
        ValueError: the parameters name ``trusted_types``.
    """
    if isinstance(data, Mapping) and "trusted_types" in data:
        raise ValueError(
            "trusted_types is not a run parameter: the types the model loader trusts are "
            "set by an administrator on the DataStore block (its trusted_types field)"
        )
    return data


def untrusted_types(
    data: bytes, extra_trusted: Sequence[str] = (), where: str = "model file"
) -> list[str]:
    """The types in a skops file that are neither trusted by skops nor listed as trusted.

    Args:
        data: the file's bytes.
        extra_trusted: type names trusted on top of :data:`TRUSTED_TYPES`.
        where: the file, for the error message.

    Returns:
        Sorted type names that would be refused (empty when the file is safe to load).

    Raises:
        CorruptModelError: the bytes are not a skops file.
    """
    trusted = set(TRUSTED_TYPES) | set(extra_trusted)
    return sorted(t for t in _types_in(data, where) if t not in trusted)


def _types_in(data: bytes, where: str) -> list[str]:
    """The types of a skops file that skops itself does not trust by default."""
    try:
        return list(sio.get_untrusted_types(data=data))
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise CorruptModelError(f"{where} is not a readable skops file: {exc}") from exc


def load_model(
    data: bytes, extra_trusted: Sequence[str] = (), where: str = "model file"
) -> Pipeline:
    """Load a skops model file, refusing any type outside the trusted list.

    Args:
        data: the file's bytes.
        extra_trusted: type names an operator trusts on top of :data:`TRUSTED_TYPES`
            (for an estimator outside scikit-learn). Never read from the store.
        where: the file, for error messages.

    Returns:
        The fitted pipeline.

    Raises:
        UntrustedModelError: the file holds a type outside the trusted list.
        CorruptModelError: the bytes are not a loadable skops file or not a pipeline.
    """
    # skops audits every type against the list before it builds anything; the types
    # refused are listed again only when it refuses (one parse of the file, not two).
    try:
        model = sio.loads(data, trusted=sorted({*TRUSTED_TYPES, *extra_trusted}))
    except UntrustedTypesFoundException:
        refused = untrusted_types(data, extra_trusted, where)
        raise UntrustedModelError(
            f"{where} holds types outside the trusted list, refusing to load it: {refused}. "
            "If you wrote this model with your own estimator, add its types to the trusted types."
        ) from None
    except (
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
    ) as exc:
        raise CorruptModelError(f"{where} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, Pipeline):
        raise CorruptModelError(
            f"{where} holds a {type(model).__name__}, not a scikit-learn Pipeline"
        )
    return model


def parse_card(document: Any, where: str) -> ModelCard:
    """A model card from its JSON document.

    Args:
        document: the parsed JSON.
        where: the card's key, for the error.

    Returns:
        The card.

    Raises:
        CorruptModelError: the document is not a valid card.
    """
    try:
        return ModelCard.model_validate(document)
    except ValidationError as exc:
        raise CorruptModelError(f"model card {where} is invalid: {_first_errors(exc)}") from exc


def parse_pointer(document: Any, where: str) -> ChampionPointer:
    """The champion pointer from its JSON document.

    Args:
        document: the parsed JSON.
        where: the pointer's key, for the error.

    Returns:
        The pointer.

    Raises:
        CorruptModelError: the document is not a valid pointer.
    """
    try:
        return ChampionPointer.model_validate(document)
    except ValidationError as exc:
        raise CorruptModelError(
            f"champion pointer {where} is invalid: {_first_errors(exc)}"
        ) from exc


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
        for e in exc.errors()[:limit]
    ]
    return "; ".join(parts)


def json_safe_params(params: dict[str, Any]) -> dict[str, Any]:
    """Estimator parameters as JSON values (anything else as its ``repr``).

    Args:
        params: ``estimator.get_params(deep=False)``.

    Returns:
        The same keys with JSON-safe values.
    """
    return {key: _json_value(value) for key, value in sorted(params.items())}


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return repr(value)


def code_version(root: Path | None = None) -> str:
    """The git commit of the code when it runs from a checkout, else the package version.

    Args:
        root: the directory to ask git in (defaults to this package's parent).

    Returns:
        ``git:<sha>`` (``+dirty`` when there are uncommitted changes), or
        ``labelloop <version>``, or ``unknown``.
    """
    where = root or Path(__file__).resolve().parents[1]
    try:
        head = _git(where, "rev-parse", "HEAD")
        dirty = _git(where, "status", "--porcelain", "--untracked-files=no") if head else ""
    except (FileNotFoundError, subprocess.TimeoutExpired):
        head, dirty = "", ""  # no git on this machine: the package version says what runs
    if head:
        return f"git:{head}{'+dirty' if dirty else ''}"
    try:
        return f"labelloop {metadata.version('labelloop')}"
    except metadata.PackageNotFoundError:
        return "unknown"


def _git(where: Path, *args: str) -> str:
    """A git command's stripped output in ``where``; empty when git fails (not a checkout)."""
    done = subprocess.run(
        ["git", *args], cwd=where, capture_output=True, text=True, timeout=10, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model file depends on.

    Returns:
        Package -> version for scikit-learn, skops and numpy.
    """
    return {pkg: metadata.version(pkg) for pkg in ("scikit-learn", "skops", "numpy")}


def history_markdown(cards: Sequence[ModelCard], champion: str | None) -> str:
    """A markdown table of versions with their scores, newest first.

    Args:
        cards: the versions' cards.
        champion: the serving version (marked), if any.

    Returns:
        The table.
    """
    lines = [
        "| version | champion | labels version | items | method | accuracy | macro F1 | promoted by gate | reason |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for card in sorted(cards, key=lambda c: c.version, reverse=True):
        mark = "**yes**" if card.version == champion else ""
        reason = (card.gate.reasons[0] if card.gate.reasons else "").replace("|", "/")
        lines.append(
            f"| {card.version} | {mark} | {card.labels_version} | {card.n_labelled} | {card.metrics.method} "
            f"| {card.metrics.accuracy:.4f} | {card.metrics.macro_f1:.4f} | {'yes' if card.gate.promote else 'no'} "
            f"| {reason} |"
        )
    return "\n".join(lines)
