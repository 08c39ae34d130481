"""The retrain flow under a temporary Prefect server: train, gate, promote only the better model."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prefect.testing.utilities import prefect_test_harness

import flows.train as train_module
from blocks import DataStore
from flows.train import TrainParams, retrain_model
from learning.pipelines import EstimatorSpec
from learning.registry import RegistryError
from storage.layout import champion_key, model_key
from tasks.events import MODEL_PROMOTED, MODEL_REJECTED
from tasks.registry import list_history, read_pointer
from tests.flows.digits_store import label_records, write_digits, write_labels


@pytest.fixture(scope="module", autouse=True)
def harness() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("digits")
    clean = write_digits(DataStore(base_path=str(root)))
    return root, clean


@pytest.fixture
def store(digits_dir, tmp_path: Path) -> DataStore:
    """A fresh store per test, sharing the written PNGs and clean batch by copy."""
    root, _ = digits_dir
    target = DataStore(base_path=str(tmp_path / "store"))
    source = DataStore(base_path=str(root))
    for key in source.list_keys():
        target.write_bytes(key, source.read_bytes(key))
    return target


@pytest.fixture
def clean(digits_dir) -> pd.DataFrame:
    return digits_dir[1]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    real = train_module.announce

    def record(event: str, resource: dict[str, str], payload: dict[str, Any]) -> Any:
        sent.append({"event": event, "resource": resource, "payload": payload})
        return real(event, resource, payload)

    monkeypatch.setattr(train_module, "announce", record)
    return sent


def _label(
    store: DataStore, clean: pd.DataFrame, version: str, n: int, unresolved: int = 0
) -> None:
    rows = clean.iloc[:n]
    labels: list[str | None] = rows["truth"].tolist()
    for i in range(unresolved):
        labels[i] = None
    write_labels(store, version, label_records(rows["item_id"].tolist(), labels))


def test_trains_twice_and_promotes_the_better_model(store, clean, events) -> None:
    _label(store, clean, "v1", 80)
    first = retrain_model(TrainParams(reason="test: first labels"), store=store)
    assert first.status == "promoted"
    assert first.decision.reference == "majority_baseline"
    assert read_pointer(store, "digits").version == first.version

    _label(store, clean, "v2", 900, unresolved=15)
    second = retrain_model(TrainParams(), store=store)
    assert second.status == "promoted", second.decision.reasons
    assert second.decision.reference == "champion"
    assert second.decision.outcome == "better", second.decision.summary
    assert second.decision.new_score > second.decision.reference_score
    assert (second.used, second.unresolved) == (885, 15)
    pointer = read_pointer(store, "digits")
    assert (pointer.version, pointer.previous_version) == (second.version, first.version)

    assert [(e["event"], e["payload"]["version"]) for e in events] == [
        (MODEL_PROMOTED, first.version),
        (MODEL_PROMOTED, second.version),
    ]
    assert events[-1]["payload"]["champion"] == second.version
    assert events[-1]["payload"]["labels"] == 885
    assert events[-1]["resource"]["prefect.resource.id"] == "labelloop.model.digits"
    assert events[-1]["payload"]["labels_version"] == "v2"
    assert set(events[-1]["payload"]["metrics"]) == {"accuracy", "macro_f1"}

    cards = list_history(store, "digits")
    assert [c.version for c in cards] == [first.version, second.version]
    assert cards[1].champion_version == first.version
    assert cards[1].data_batches == ["clean/digits/b1.parquet"]
    assert cards[0].reason == "test: first labels"


def test_a_worse_model_is_saved_but_not_promoted(store, clean, events) -> None:
    _label(store, clean, "v1", 600)
    good = retrain_model(TrainParams(), store=store)
    assert good.status == "promoted"
    before = store.read_bytes(champion_key("digits"))

    _label(store, clean, "v2", 1200)
    worse = retrain_model(
        TrainParams(
            estimator=EstimatorSpec(
                import_path="sklearn.neighbors.KNeighborsClassifier", params={"n_neighbors": 150}
            )
        ),
        store=store,
    )
    assert worse.status == "not_promoted"
    assert worse.decision.outcome == "worse"
    assert worse.decision.new_score < worse.decision.reference_score
    assert worse.decision.summary.startswith("not promoted: worse than the champion (accuracy diff -")
    assert worse.decision.summary in worse.message
    assert store.read_bytes(champion_key("digits")) == before
    assert store.exists(model_key("digits", worse.version))  # kept in the history
    # the rejection is announced too: the push deployment follows it with the next batch
    assert [(e["event"], e["payload"]["version"]) for e in events] == [
        (MODEL_PROMOTED, good.version),
        (MODEL_REJECTED, worse.version),
    ]
    assert events[-1]["payload"]["champion"] == good.version
    assert events[-1]["payload"]["reason"] == worse.decision.summary
    assert events[-1]["payload"]["gate"]["outcome"] == "worse"


def test_more_labels_and_an_indistinguishable_score_is_promoted(store, clean, events) -> None:
    _label(store, clean, "v1", 600)
    champion = retrain_model(TrainParams(), store=store)
    _label(store, clean, "v2", 640)
    challenger = retrain_model(TrainParams(), store=store)

    decision = challenger.decision
    assert challenger.status == "promoted", decision.reasons
    assert decision.outcome == "no_evidence"
    assert decision.paired.lower <= 0 <= decision.paired.upper
    assert re.fullmatch(
        r"promoted: no evidence of a difference \(accuracy diff [+-]\d\.\d{3} "
        r"\[[+-]\d\.\d{3}, [+-]\d\.\d{3}\] on 640 paired items\), trained on 640 labels vs 600",
        decision.summary,
    ), decision.summary
    pointer = read_pointer(store, "digits")
    assert (pointer.version, pointer.previous_version) == (challenger.version, champion.version)
    assert challenger.message.endswith(f"{decision.summary}; serving {challenger.version}")
    card = list_history(store, "digits")[-1]
    assert card.version == challenger.version and card.gate.summary == decision.summary
    assert events[-1]["event"] == MODEL_PROMOTED
    assert events[-1]["payload"]["reason"] == decision.summary
    assert events[-1]["payload"]["gate"]["new_labels"] == 640
    assert events[-1]["payload"]["gate"]["champion_labels"] == 600


def test_same_labels_again_is_not_comparable(store, clean) -> None:
    _label(store, clean, "v1", 300)
    retrain_model(TrainParams(), store=store)
    again = retrain_model(TrainParams(), store=store)
    assert again.status == "not_promoted"
    assert "not comparable" in again.decision.reasons[0]
    assert again.decision.outcome == "not_comparable"


def test_only_new_labels_skips_a_version_already_trained_on(store, clean, events) -> None:
    _label(store, clean, "v1", 300)
    first = retrain_model(TrainParams(), store=store)
    sent = len(events)
    again = retrain_model(TrainParams(only_new_labels=True), store=store)
    assert again.status == "skipped"
    assert "already trained on" in again.message
    assert again.champion == first.version
    assert len(events) == sent, "nothing announced: no next batch is pushed for it"
    assert len(list_history(store, "digits")) == 1, "no model trained"

    _label(store, clean, "v2", 320)
    newer = retrain_model(TrainParams(only_new_labels=True), store=store)
    assert newer.status in {"promoted", "not_promoted"}
    assert newer.labels_version == "v2"


@pytest.mark.parametrize(
    ("n", "truth", "expected"),
    [
        (3, None, "need at least 2 per class"),
        (40, "7", "need at least 2 classes"),
    ],
    ids=["too-few", "one-class"],
)
def test_bad_labels_skip_without_touching_the_champion(
    store, clean, events, n, truth, expected
) -> None:
    _label(store, clean, "v1", 200)
    champion = retrain_model(TrainParams(), store=store)
    before = store.read_bytes(champion_key("digits"))
    rows = clean.iloc[1000 : 1000 + n]
    labels = [truth] * n if truth else rows["truth"].tolist()
    write_labels(store, "v2", label_records(rows["item_id"].tolist(), labels))

    result = retrain_model(TrainParams(), store=store)
    assert result.status == "skipped"
    assert expected in result.message or "too few labels" in result.message
    assert result.champion == champion.version
    assert store.read_bytes(champion_key("digits")) == before
    # no model, but the labels were used: announced, so the next batch is pushed
    assert events[-1]["event"] == MODEL_REJECTED
    assert events[-1]["payload"]["status"] == "skipped"
    assert events[-1]["payload"]["message"] == result.message
    assert events[-1]["payload"]["champion"] == champion.version


def test_labels_for_unknown_items_are_counted(store, clean) -> None:
    rows = clean.iloc[:100]
    records = label_records(rows["item_id"].tolist(), rows["truth"].tolist())
    records += label_records(["not-in-clean-1", "not-in-clean-2"], ["3", "4"], start_task=500)
    write_labels(store, "v1", records)
    result = retrain_model(TrainParams(), store=store)
    assert (result.labels, result.used, result.missing_items) == (102, 100, 2)
    assert result.status == "promoted"


@pytest.mark.parametrize("damage", ["missing-version", "corrupt-model", "corrupt-pointer"])
def test_broken_champion_stops_the_run_and_changes_nothing(store, clean, damage) -> None:
    _label(store, clean, "v1", 200)
    first = retrain_model(TrainParams(), store=store)
    if damage == "missing-version":
        for key in store.list_keys(f"models/digits/{first.version}/"):
            store.delete(key)
    elif damage == "corrupt-model":
        store.write_bytes(model_key("digits", first.version), b"PK\x03\x04 not really")
    else:
        store.write_bytes(champion_key("digits"), b'{"version": "../../etc"}')
    before = store.read_bytes(champion_key("digits"))
    versions_before = store.list_keys("models/digits/")

    _label(store, clean, "v2", 900)
    with pytest.raises(RegistryError):
        retrain_model(TrainParams(), store=store)
    assert store.read_bytes(champion_key("digits")) == before
    assert store.list_keys("models/digits/") == versions_before


def test_missing_labels_version_is_a_clear_error(store) -> None:
    with pytest.raises(ValueError, match="no labels for 'digits' yet"):
        retrain_model(TrainParams(), store=store)
