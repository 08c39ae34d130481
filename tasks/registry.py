"""The model registry in the DataStore: save versions, read and swap the champion.

The plain functions (``save_version``, ``load_version``, ``read_pointer``,
``load_champion_model``, ``swap_champion``, ``rollback_champion``, ``list_history``)
run without Prefect, e.g. from the CLI; the ``@task`` wrappers below are what flows
call. ``read_trained_items`` returns the ids a version was fitted on. Every read checks what it reads: a pointer naming a missing version, a model
file that was damaged or replaced, or one holding untrusted types is an error and the
pointer is left as it was.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict
from sklearn.pipeline import Pipeline

from blocks import DataStore
from blocks.data_store import MissingKeyError
from learning.registry import (
    ChampionPointer,
    CorruptModelError,
    ModelCard,
    ModelNotFoundError,
    RegistryError,
    load_model,
    model_digest,
    parse_card,
    parse_pointer,
)
from storage.layout import (
    card_key,
    champion_key,
    check_model_name,
    check_version_id,
    items_key,
    model_key,
    model_prefix,
    version_of_card_key,
)

STORE_RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10]}


class ChampionChangedError(RegistryError):
    """The champion pointer moved since the caller read it (another promotion or a rollback)."""


_ANY = "*"


class LoadedModel(BaseModel):
    """A version read back from the store and checked.

    Attributes:
        card: its model card.
        model: the fitted pipeline.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    card: ModelCard
    model: Pipeline


def save_version(store: DataStore, card: ModelCard, model_bytes: bytes, items: bytes) -> None:
    """Write a version: model file, items file, and the card last (a version with a card is complete).

    Args:
        store: the DataStore.
        card: the version's card; its digests must match the bytes.
        model_bytes: the skops file.
        items: ``learning.registry.items_document`` of the ids the model was fitted on.

    Raises:
        CorruptModelError: a digest does not match, or the version already exists
            (versions are never overwritten).
    """
    if model_digest(model_bytes) != card.model_sha256 or model_digest(items) != card.items_sha256:
        raise CorruptModelError(
            f"model {card.name} version {card.version}: the card's digests do not match the files"
        )
    key = card_key(card.name, card.version)
    if store.exists(key):
        raise CorruptModelError(f"model {card.name} version {card.version} already exists at {key}")
    store.write_bytes(model_key(card.name, card.version), model_bytes)
    store.write_bytes(items_key(card.name, card.version), items)
    store.write_bytes(key, card.model_dump_json(indent=2).encode())


def read_trained_items(store: DataStore, card: ModelCard) -> list[str]:
    """The item ids a version was fitted on, checked against its card.

    Args:
        store: the DataStore.
        card: the version's card.

    Returns:
        The sorted item ids.

    Raises:
        ModelNotFoundError: the items file is missing.
        CorruptModelError: it differs from the one saved or is not a list of ids.
    """
    key = items_key(card.name, card.version)
    try:
        data = store.read_bytes(key)
    except MissingKeyError:
        raise ModelNotFoundError(
            f"model {card.name} version {card.version}: {key} is missing"
        ) from None
    if model_digest(data) != card.items_sha256:
        raise CorruptModelError(f"{key} differs from the one saved with its card (sha256 mismatch)")
    items = json.loads(data)
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise CorruptModelError(f"{key} is not a JSON list of item ids")
    return items


def read_card(store: DataStore, name: str, version: str) -> ModelCard:
    """A version's card.

    Args:
        store: the DataStore.
        name: the model name.
        version: the version id.

    Returns:
        The card.

    Raises:
        ModelNotFoundError: no such version.
        CorruptModelError: the card is not valid JSON / not a card / names another version.
    """
    key = card_key(name, version)
    try:
        raw = store.read_bytes(key)
    except MissingKeyError:
        raise ModelNotFoundError(
            f"model {name} has no version {version} (no {key} in {store.describe()})"
        ) from None
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptModelError(f"model card {key} is not JSON: {exc}") from exc
    card = parse_card(document, key)
    if card.name != name or card.version != version:
        raise CorruptModelError(
            f"model card {key} describes {card.name} {card.version}, not {name} {version}"
        )
    return card


def load_version(
    store: DataStore, name: str, version: str, extra_trusted: Sequence[str] = ()
) -> LoadedModel:
    """Read a version's card and model, checking digest and types.

    Args:
        store: the DataStore.
        name: the model name.
        version: the version id.
        extra_trusted: types trusted on top of ``learning.registry.TRUSTED_TYPES``.

    Returns:
        The card and the fitted pipeline.

    Raises:
        ModelNotFoundError: the version or its model file is missing.
        CorruptModelError: the file differs from the one saved, or cannot be loaded.
        UntrustedModelError: the file holds untrusted types.
    """
    card = read_card(store, name, version)
    key = model_key(name, version)
    try:
        data = store.read_bytes(key)
    except MissingKeyError:
        raise ModelNotFoundError(
            f"model {name} version {version}: the model file {key} is missing"
        ) from None
    if model_digest(data) != card.model_sha256:
        raise CorruptModelError(
            f"model file {key} differs from the one saved with its card (sha256 mismatch): damaged or replaced"
        )
    return LoadedModel(card=card, model=load_model(data, extra_trusted, where=key))


def read_pointer(store: DataStore, name: str) -> ChampionPointer | None:
    """The champion pointer, or None when the model has no champion yet.

    Args:
        store: the DataStore.
        name: the model name.

    Returns:
        The pointer or None.

    Raises:
        CorruptModelError: the pointer is not valid JSON or not a pointer.
    """
    key = champion_key(name)
    try:
        raw = store.read_bytes(key)
    except MissingKeyError:
        return None
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptModelError(f"champion pointer {key} is not JSON: {exc}") from exc
    pointer = parse_pointer(document, key)
    if pointer.name != name:
        raise CorruptModelError(
            f"champion pointer {key} names model {pointer.name!r}, not {name!r}"
        )
    return pointer


def load_champion_model(
    store: DataStore, name: str, extra_trusted: Sequence[str] = ()
) -> LoadedModel | None:
    """The serving version, checked; None when there is no champion.

    Args:
        store: the DataStore.
        name: the model name.
        extra_trusted: types trusted on top of the default list.

    Returns:
        The champion or None.

    Raises:
        ModelNotFoundError: the pointer names a missing version.
        CorruptModelError / UntrustedModelError: the champion cannot be loaded safely.
    """
    pointer = read_pointer(store, name)
    if pointer is None:
        return None
    return load_version(store, name, pointer.version, extra_trusted)


def swap_champion(
    store: DataStore,
    name: str,
    version: str,
    action: str = "promote",
    reason: str | None = None,
    extra_trusted: Sequence[str] = (),
    now: dt.datetime | None = None,
    expected_current: str | None = _ANY,
) -> ChampionPointer:
    """Point the champion at ``version`` with one atomic replace of the pointer.

    The version is loaded first (digest and types checked): a missing or unsafe
    version is refused and the pointer keeps its old value.

    Args:
        store: the DataStore.
        name: the model name.
        version: the new serving version.
        action: ``promote`` or ``rollback``.
        reason: recorded in the pointer.
        extra_trusted: types trusted on top of the default list.
        now: the time recorded (current UTC time if None).
        expected_current: the champion the caller compared against (None: no
            champion); the swap is refused if the pointer names another one now.
            Default: no check.

    Returns:
        The new pointer.

    Raises:
        ModelNotFoundError / CorruptModelError / UntrustedModelError: the version
            cannot serve; nothing is changed.
        ChampionChangedError: the champion is not ``expected_current``; unchanged.
    """
    check_model_name(name)
    check_version_id(version)
    load_version(store, name, version, extra_trusted)
    previous = _previous_version(store, name)
    if expected_current != _ANY and previous != expected_current:
        raise ChampionChangedError(
            f"model {name}: the champion is now {previous}, not {expected_current} as when this run "
            f"compared against it; {version} is not promoted"
        )
    pointer = ChampionPointer.model_validate(
        {
            "name": name,
            "version": version,
            "previous_version": previous,
            "action": action,
            "changed_at": now or dt.datetime.now(dt.UTC),
            "reason": reason,
        }
    )
    store.replace_json(champion_key(name), pointer.model_dump(mode="json"))
    return pointer


def _previous_version(store: DataStore, name: str) -> str | None:
    """The version the pointer names now; a corrupt pointer is replaced, so it has none."""
    try:
        current = read_pointer(store, name)
    except CorruptModelError:
        return None  # a swap is how a damaged pointer gets repaired; the old value is unreadable
    return current.version if current else None


def rollback_champion(
    store: DataStore,
    name: str,
    version: str,
    reason: str | None = None,
    extra_trusted: Sequence[str] = (),
) -> ChampionPointer:
    """Point the champion back at an earlier version (the ``labelloop model rollback`` command).

    Args:
        store: the DataStore.
        name: the model name.
        version: an existing version id (see :func:`list_history`).
        reason: why, recorded in the pointer.
        extra_trusted: types trusted on top of the default list.

    Returns:
        The new pointer (``action="rollback"``).

    Raises:
        ModelNotFoundError: no such version; the pointer is unchanged.
        CorruptModelError / UntrustedModelError: the version cannot serve; unchanged.
    """
    return swap_champion(store, name, version, "rollback", reason, extra_trusted)


def list_history(store: DataStore, name: str) -> list[ModelCard]:
    """The cards of every complete version, oldest first.

    Args:
        store: the DataStore.
        name: the model name.

    Returns:
        The cards in version (time) order.

    Raises:
        CorruptModelError: a card cannot be read.
    """
    versions = sorted(
        v
        for key in store.list_keys(model_prefix(name))
        if (v := version_of_card_key(name, key))
    )
    return [read_card(store, name, v) for v in versions]


@task(name="save-model-version", cache_policy=NO_CACHE, **STORE_RETRIES)
def save_model_version(store: DataStore, card: ModelCard, model_bytes: bytes, items: bytes) -> str:
    """Write a new version's model file, items file and card.

    Args:
        store: the DataStore.
        card: the card.
        model_bytes: the skops file.
        items: the items file.

    Returns:
        The card's store key.
    """
    key = card_key(card.name, card.version)
    if (
        store.exists(key)
        and read_card(store, card.name, card.version).model_sha256 == card.model_sha256
    ):
        return key  # a retry after the write went through
    save_version(store, card, model_bytes, items)
    get_run_logger().info(
        "Saved model %s version %s (%d bytes)", card.name, card.version, len(model_bytes)
    )
    return key


@task(name="load-champion", cache_policy=NO_CACHE, **STORE_RETRIES)
def load_champion(
    store: DataStore, name: str, extra_trusted: Sequence[str] = ()
) -> LoadedModel | None:
    """The checked champion, or None when there is none (see :func:`load_champion_model`).

    Args:
        store: the DataStore.
        name: the model name.
        extra_trusted: types trusted on top of the default list.

    Returns:
        The champion or None.
    """
    loaded = load_champion_model(store, name, extra_trusted)
    if loaded is None:
        get_run_logger().info("Model %s has no champion yet", name)
    else:
        get_run_logger().info("Champion of %s is %s", name, loaded.card.version)
    return loaded


@task(name="promote-model", cache_policy=NO_CACHE)
def promote_model(
    store: DataStore,
    name: str,
    version: str,
    expected_current: str | None,
    reason: str | None = None,
    extra_trusted: Sequence[str] = (),
) -> ChampionPointer:
    """Swap the champion pointer to a version if the champion is still ``expected_current``.

    Args:
        store: the DataStore.
        name: the model name.
        version: the version to serve.
        expected_current: the champion the gate compared against (None: none).
        reason: recorded in the pointer.
        extra_trusted: types trusted on top of the default list.

    Returns:
        The new pointer.

    Raises:
        ChampionChangedError: the champion moved meanwhile; nothing changes.
    """
    pointer = swap_champion(
        store, name, version, "promote", reason, extra_trusted, expected_current=expected_current
    )
    get_run_logger().info("Champion of %s: %s -> %s", name, pointer.previous_version, version)
    return pointer


@task(name="list-model-history", cache_policy=NO_CACHE, **STORE_RETRIES)
def list_model_history(store: DataStore, name: str) -> list[ModelCard]:
    """The cards of every version, oldest first (see :func:`list_history`).

    Args:
        store: the DataStore.
        name: the model name.

    Returns:
        The cards.
    """
    return list_history(store, name)
