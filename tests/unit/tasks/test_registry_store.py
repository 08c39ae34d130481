"""The registry in a local DataStore: save, champion pointer swap, rollback, refusals."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.datasets import load_digits
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from blocks import DataStore
from learning.evaluation import compute_metrics
from learning.gate import decide_promotion
from learning.pipelines import DEFAULT_ESTIMATORS, FeatureSpec, build_pipeline
from learning.registry import (
    CorruptModelError,
    ModelCard,
    ModelNotFoundError,
    UntrustedModelError,
    items_document,
    model_digest,
    new_version_id,
    serialize_model,
)
from storage.layout import champion_key, model_key
from tasks.registry import (
    ChampionChangedError,
    list_history,
    load_champion_model,
    load_version,
    read_pointer,
    read_trained_items,
    rollback_champion,
    save_version,
    swap_champion,
)

NAME = "digits"
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
FEATURES = FeatureSpec(modality="image", pixel_max=16)
ITEMS = items_document([f"item-{i}" for i in range(20)])


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return data.data, data.target.astype(str)


def _card(model: Pipeline, data: bytes, version: str, rows, labels) -> ModelCard:
    metrics = compute_metrics(
        labels, model.predict(rows), "holdout", [str(i) for i in range(len(labels))]
    )
    return ModelCard(
        name=NAME,
        version=version,
        dataset=NAME,
        labels_version="v1",
        labels_key="labels/digits/v1.parquet",
        data_batches=["clean/digits/b1.parquet"],
        n_labelled=len(labels),
        n_trained=len(labels),
        classes=[str(c) for c in model.classes_],
        features=FEATURES,
        estimator=DEFAULT_ESTIMATORS["image"],
        estimator_params={},
        metrics=metrics,
        holdout_digest=metrics.evaluated_digest,
        gate=decide_promotion(metrics, None),
        code_version="test",
        library_versions={},
        model_sha256=model_digest(data),
        items_sha256=model_digest(ITEMS),
        created_at=T0,
    )


def _save(store: DataStore, digits, n_train: int, minutes: int) -> tuple[str, Pipeline]:
    x, y = digits
    model = build_pipeline(FEATURES).fit(x[:n_train], y[:n_train])
    data = serialize_model(model)
    version = new_version_id(T0 + dt.timedelta(minutes=minutes))
    save_version(store, _card(model, data, version, x[1500:], y[1500:]), data, ITEMS)
    return version, model


@pytest.fixture
def store(tmp_path: Path) -> DataStore:
    return DataStore(base_path=str(tmp_path))


@pytest.fixture
def two_versions(store: DataStore, digits) -> tuple[str, str]:
    first, _ = _save(store, digits, 60, 0)
    second, _ = _save(store, digits, 600, 1)
    return first, second


def test_no_champion_is_none(store: DataStore) -> None:
    assert read_pointer(store, NAME) is None
    assert load_champion_model(store, NAME) is None


def test_saved_version_loads_and_predicts_the_same(store: DataStore, digits) -> None:
    version, model = _save(store, digits, 100, 0)
    loaded = load_version(store, NAME, version)
    rows = digits[0][1700:]
    assert loaded.model.predict(rows).tolist() == model.predict(rows).tolist()
    assert loaded.card.version == version


def test_swap_then_rollback(store: DataStore, two_versions: tuple[str, str], digits) -> None:
    first, second = two_versions
    swap_champion(store, NAME, first)
    pointer = swap_champion(store, NAME, second, reason="better")
    assert (pointer.version, pointer.previous_version, pointer.action) == (second, first, "promote")
    assert load_champion_model(store, NAME).card.version == second

    back = rollback_champion(store, NAME, first, reason="second is broken in production")
    assert (back.version, back.previous_version, back.action) == (first, second, "rollback")
    champion = load_champion_model(store, NAME)
    assert champion.card.version == first
    assert read_pointer(store, NAME) == back
    # The rolled-back champion is really the first model (trained on 60 items).
    assert champion.card.n_labelled == load_version(store, NAME, first).card.n_labelled


def test_history_is_in_time_order_and_skips_incomplete_versions(
    store: DataStore, two_versions
) -> None:
    first, second = two_versions
    unfinished = new_version_id(T0 + dt.timedelta(minutes=5))
    store.write_bytes(model_key(NAME, unfinished), b"partial")  # crashed before its card
    assert [c.version for c in list_history(store, NAME)] == [first, second]


@pytest.mark.parametrize("action", ["promote", "rollback"])
def test_missing_version_is_refused_and_pointer_unchanged(
    store: DataStore, two_versions, action
) -> None:
    first, _ = two_versions
    swap_champion(store, NAME, first)
    before = store.read_bytes(champion_key(NAME))
    missing = new_version_id(T0 + dt.timedelta(days=1))
    with pytest.raises(ModelNotFoundError, match=missing):
        if action == "promote":
            swap_champion(store, NAME, missing)
        else:
            rollback_champion(store, NAME, missing)
    assert store.read_bytes(champion_key(NAME)) == before


def test_pointer_to_missing_version_is_a_clear_error(store: DataStore, two_versions) -> None:
    first, _ = two_versions
    swap_champion(store, NAME, first)
    for key in store.list_keys(f"models/{NAME}/{first}/"):
        store.delete(key)
    with pytest.raises(ModelNotFoundError, match=f"has no version {first}"):
        load_champion_model(store, NAME)


@pytest.mark.parametrize("content", [b"{not json", b'{"version": "latest"}', b"[]"])
def test_corrupt_pointer_is_a_clear_error(store: DataStore, content: bytes) -> None:
    store.write_bytes(champion_key(NAME), content)
    with pytest.raises(CorruptModelError, match="champion pointer models/digits/champion.json"):
        load_champion_model(store, NAME)


def _plant(store: DataStore, version: str, model: Pipeline, how: str) -> None:
    """Replace a saved model file the way someone with write access to the bucket could."""
    key = model_key(NAME, version)
    if how == "garbage":
        store.write_bytes(key, b"\x00" * 64)
        return
    if how == "other-model":  # a valid, trusted model file that is not the one saved
        store.write_bytes(
            key, serialize_model(build_pipeline(FEATURES).fit(np.eye(64)[:10], list("0123456789")))
        )
        return
    # "planted-code": a model that would run eval(), with the card's digest updated to match.
    evil = sio.dumps(Pipeline([("planted", FunctionTransformer(func=eval)), *model.steps]))
    store.write_bytes(key, evil)
    card_path = f"models/{NAME}/{version}/card.json"
    card = json.loads(store.read_bytes(card_path))
    card["model_sha256"] = model_digest(evil)
    store.write_bytes(card_path, json.dumps(card).encode())


@pytest.mark.parametrize(
    ("how", "error"),
    [
        ("garbage", CorruptModelError),
        ("other-model", CorruptModelError),
        ("planted-code", UntrustedModelError),
    ],
)
def test_tampered_model_file_is_refused(
    store: DataStore, digits, how: str, error: type[Exception]
) -> None:
    good, _ = _save(store, digits, 100, 0)
    bad, model = _save(store, digits, 200, 1)
    swap_champion(store, NAME, good)
    _plant(store, bad, model, how)
    before = store.read_bytes(champion_key(NAME))

    with pytest.raises(error, match=f"models/{NAME}/{bad}/model.skops"):
        load_version(store, NAME, bad)
    with pytest.raises(error):
        rollback_champion(store, NAME, bad)
    assert store.read_bytes(champion_key(NAME)) == before

    # A tampered champion is refused on load, never served.
    store.replace_json(champion_key(NAME), {**json.loads(before), "version": bad})
    with pytest.raises(error):
        load_champion_model(store, NAME)


def test_failed_pointer_write_keeps_the_old_champion(
    store: DataStore, two_versions, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first, second = two_versions
    swap_champion(store, NAME, first)

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        swap_champion(store, NAME, second)
    monkeypatch.undo()
    assert read_pointer(store, NAME).version == first
    assert load_champion_model(store, NAME).card.version == first
    leftovers = [p.name for p in (tmp_path / "models" / NAME).iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_version_is_never_overwritten(store: DataStore, digits) -> None:
    version, _ = _save(store, digits, 100, 0)
    data = store.read_bytes(model_key(NAME, version))
    card = load_version(store, NAME, version).card
    with pytest.raises(CorruptModelError, match="already exists"):
        save_version(store, card, data, ITEMS)


def test_trained_items_read_back(store: DataStore, digits) -> None:
    version, _ = _save(store, digits, 100, 0)
    card = load_version(store, NAME, version).card
    assert read_trained_items(store, card) == sorted(f"item-{i}" for i in range(20))
    store.write_bytes(f"models/{NAME}/{version}/items.json", b'["item-0"]')
    with pytest.raises(CorruptModelError, match="items.json differs"):
        read_trained_items(store, card)


@pytest.mark.parametrize("expected", ["first", None])
def test_swap_refused_when_champion_moved(store: DataStore, two_versions, expected) -> None:
    first, second = two_versions
    rollback_champion(store, NAME, second)  # someone else changed the champion meanwhile
    before = store.read_bytes(champion_key(NAME))
    with pytest.raises(ChampionChangedError, match=f"champion is now {second}"):
        swap_champion(store, NAME, first, expected_current=first if expected else None)
    assert store.read_bytes(champion_key(NAME)) == before
