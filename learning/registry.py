"""Model registry format: fitted pipelines as skops files, model cards, champion pointer.

Bytes in, bytes out: the caller moves them to and from the DataStore under the keys
given by :func:`model_key`, :func:`card_key` and :func:`champion_key`.

Security: a model file is loaded with ``skops.io``, never with pickle. Before loading,
the file's types are audited; any type that is neither trusted by skops itself
(scikit-learn estimators, numpy arrays, builtins) nor listed in
:data:`TRUSTED_TYPES` (or the caller's ``extra_trusted``) makes the load fail with
:class:`UntrustedModelError`, so a file planted by someone who can write to the
bucket cannot run code. Only the vetted types are passed to skops as trusted; the
file's own list of types is never trusted as such.
"""

import io
import json
import re
import zipfile
from collections.abc import Collection
from datetime import datetime
from typing import Any

import skops.io as sio
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from skops.io.exceptions import UntrustedTypesFoundException

from learning.evaluation import Metrics
from learning.gate import GateDecision
from learning.pipelines import EstimatorSpec, FeatureSpec

# Types a labelloop model may hold beyond what skops trusts by default. Extend only
# with classes whose construction and __setstate__ cannot run arbitrary code.
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "learning.pipelines.PixelScaler",
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)

MODEL_FILE = "model.skops"
CARD_FILE = "card.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class RegistryError(ValueError):
    """A model, card or pointer cannot be written or read."""


class UntrustedModelError(RegistryError):
    """A model file holds types that are not trusted; it was not loaded."""


class ModelCard(BaseModel):
    """What a model version was trained on and how it scored."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Model name (one registry folder per name)")
    version: str = Field(description="Version id, sortable by time")
    created_at: datetime = Field(description="When the model was trained (timezone-aware)")
    labels_version: str = Field(description="Labels version the model was trained on")
    data_batches: list[str] = Field(default_factory=list, description="Clean data batches joined")
    n_train_items: int = Field(ge=0, description="Labelled items used for the final fit")
    classes: list[str] = Field(description="Classes the model predicts")
    features: FeatureSpec
    estimator: EstimatorSpec
    metrics: Metrics
    gate: GateDecision | None = Field(default=None, description="The gate decision taken for this version")
    code_version: str = Field(description="labelloop version or git commit that trained it")


class ChampionPointer(BaseModel):
    """Which version serves; replaced atomically by the caller."""

    model_config = ConfigDict(extra="forbid")

    version: str
    promoted_at: datetime
    previous: str | None = Field(default=None, description="The champion it replaced, for rollback")


def make_version(created_at: datetime) -> str:
    """A sortable version id from a timezone-aware time, e.g. ``v20261122T061100123456Z``.

    Args:
        created_at: training time; must carry a timezone.

    Returns:
        The version id (UTC, microseconds).
    """
    offset = created_at.utcoffset()
    if offset is None:
        raise RegistryError("created_at must be timezone-aware")
    naive_utc = (created_at - offset).replace(tzinfo=None)
    return "v" + naive_utc.strftime("%Y%m%dT%H%M%S%fZ")


def model_key(name: str, version: str) -> str:
    """DataStore key of a version's model file: ``models/<name>/<version>/model.skops``."""
    return f"models/{_check_name('name', name)}/{_check_name('version', version)}/{MODEL_FILE}"


def card_key(name: str, version: str) -> str:
    """DataStore key of a version's card: ``models/<name>/<version>/card.json``."""
    return f"models/{_check_name('name', name)}/{_check_name('version', version)}/{CARD_FILE}"


def champion_key(name: str) -> str:
    """DataStore key of the champion pointer: ``models/<name>/champion.json``."""
    return f"models/{_check_name('name', name)}/champion.json"


def dump_model(model: Any, extra_trusted: Collection[str] = ()) -> bytes:
    """Serialize a fitted pipeline with skops, refusing what could not be loaded back.

    Args:
        model: the fitted estimator or pipeline.
        extra_trusted: type names trusted beyond :data:`TRUSTED_TYPES`.

    Returns:
        The skops file's bytes.

    Raises:
        UntrustedModelError: the model holds a type the loader would refuse.
    """
    data = sio.dumps(model)
    _audit(data, extra_trusted, "the model to save")
    return data


def load_model(data: bytes, extra_trusted: Collection[str] = ()) -> Any:
    """Load a skops model file after auditing every type it names.

    Args:
        data: the file's bytes.
        extra_trusted: type names trusted beyond :data:`TRUSTED_TYPES`.

    Returns:
        The fitted estimator or pipeline.

    Raises:
        UntrustedModelError: the file names a type that is not trusted.
        RegistryError: the bytes are not a readable skops file.
    """
    vetted = _audit(data, extra_trusted, "the model file")
    try:
        return sio.loads(data, trusted=vetted)
    except UntrustedTypesFoundException as exc:
        raise UntrustedModelError(f"the model file holds untrusted types: {exc}") from exc
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"the model file is corrupt or not a skops file: {exc}") from exc


def _audit(data: bytes, extra_trusted: Collection[str], what: str) -> list[str]:
    """The file's non-default types, all of them vetted; raise on any other."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise RegistryError(f"{what} is corrupt or not a skops file (not a zip archive, {len(data)} bytes)")
    try:
        listed = sio.get_untrusted_types(data=data)
    except (zipfile.BadZipFile, KeyError, ValueError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{what} is corrupt or not a skops file: {exc}") from exc
    allowed = TRUSTED_TYPES | set(extra_trusted)
    refused = sorted(set(listed) - allowed)
    if refused:
        raise UntrustedModelError(f"{what} holds types that are not trusted, refusing to load: {', '.join(refused)}")
    return list(listed)


def card_to_bytes(card: ModelCard) -> bytes:
    """JSON bytes of a model card.

    Args:
        card: the card.

    Returns:
        UTF-8 JSON.
    """
    return card.model_dump_json(indent=2).encode()


def card_from_bytes(data: bytes, source: str = "card.json") -> ModelCard:
    """Parse a model card.

    Args:
        data: UTF-8 JSON bytes.
        source: where the bytes came from, for the error message.

    Returns:
        The card.

    Raises:
        RegistryError: not a valid card.
    """
    try:
        return ModelCard.model_validate_json(data)
    except ValidationError as exc:
        raise RegistryError(f"{source} is not a valid model card: {exc}") from exc


def pointer_from_json(obj: Any, source: str = "champion.json") -> ChampionPointer:
    """Parse a champion pointer read with ``DataStore.read_json``.

    Args:
        obj: the decoded JSON.
        source: where it came from, for the error message.

    Returns:
        The pointer.

    Raises:
        RegistryError: not a valid pointer.
    """
    try:
        return ChampionPointer.model_validate(obj)
    except ValidationError as exc:
        raise RegistryError(f"{source} is not a valid champion pointer: {exc}") from exc


def _check_name(field: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise RegistryError(
            f"{field} {value!r} must start with a letter or digit and hold only letters, digits, '.', '_' or '-'"
        )
    return value


def next_pointer(current: ChampionPointer | None, version: str, now: datetime) -> ChampionPointer:
    """The pointer that makes ``version`` the champion (promotion or rollback).

    Args:
        current: the pointer in the store, or None if there is no champion yet.
        version: the version to serve; the caller checks its files exist first.
        now: timezone-aware time of the swap.

    Returns:
        The new pointer, remembering the champion it replaces.

    Raises:
        RegistryError: a bad version id, or ``version`` already serves.
    """
    _check_name("version", version)
    if now.utcoffset() is None:
        raise RegistryError("now must be timezone-aware")
    if current is not None and current.version == version:
        raise RegistryError(f"version {version!r} is already the champion")
    return ChampionPointer(version=version, promoted_at=now, previous=None if current is None else current.version)
