import io
import json
import zipfile
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier

from learning.evaluation import compute_metrics
from learning.pipelines import EstimatorSpec, FeatureSpec, build_pipeline
from learning.registry import (
    ChampionPointer,
    ModelCard,
    RegistryError,
    UntrustedModelError,
    card_from_bytes,
    card_key,
    card_to_bytes,
    champion_key,
    dump_model,
    load_model,
    make_version,
    model_key,
    next_pointer,
    pointer_from_json,
)

DIGITS = load_digits()
IMAGE = FeatureSpec(modality="image", pixel_max=16.0)


class Planted:
    """A class nobody trusted, standing for code someone planted in the bucket."""

    def __init__(self) -> None:
        self.payload = "rm -rf"


def _fitted_image_pipeline():
    return build_pipeline(IMAGE).fit(DIGITS.data[:200], DIGITS.target[:200])


def _retarget_class(data: bytes, cls: str, module: str, new_cls: str, new_module: str) -> bytes:
    """Rewrite the schema of a skops file so that one class node names another class."""

    def walk(node):
        if isinstance(node, dict):
            if node.get("__class__") == cls and node.get("__module__") == module:
                node["__class__"], node["__module__"] = new_cls, new_module
                return 1
            return sum(walk(v) for v in node.values())
        if isinstance(node, list):
            return sum(walk(v) for v in node)
        return 0

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            content = src.read(name)
            if name == "schema.json":
                schema = json.loads(content)
                assert walk(schema) == 1
                content = json.dumps(schema).encode()
            dst.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize(
    ("spec", "rows", "labels"),
    [
        (IMAGE, DIGITS.data[:200], DIGITS.target[:200]),
        (
            FeatureSpec(modality="tabular", numeric_columns=["n"], categorical_columns=["c"]),
            pd.DataFrame({"n": [1.0, 2.0, 8.0, 9.0] * 5, "c": ["x", "x", "y", "y"] * 5}),
            ["lo", "lo", "hi", "hi"] * 5,
        ),
        (
            FeatureSpec(modality="text", text_column="t"),
            pd.DataFrame({"t": ["good great", "great fine", "bad awful", "awful poor"] * 5}),
            ["pos", "pos", "neg", "neg"] * 5,
        ),
    ],
)
def test_round_trip_predicts_the_same(spec, rows, labels):
    model = build_pipeline(spec).fit(rows, labels)
    loaded = load_model(dump_model(model))
    assert loaded.predict(rows).tolist() == model.predict(rows).tolist()
    assert np.allclose(loaded.predict_proba(rows), model.predict_proba(rows))


def test_tree_models_round_trip():
    spec = EstimatorSpec(import_path="sklearn.ensemble.RandomForestClassifier", params={"n_estimators": 5})
    model = build_pipeline(IMAGE, spec).fit(DIGITS.data[:200], DIGITS.target[:200])
    loaded = load_model(dump_model(model))
    assert isinstance(loaded.named_steps["model"], RandomForestClassifier)
    assert loaded.predict(DIGITS.data[200:260]).tolist() == model.predict(DIGITS.data[200:260]).tolist()


def test_tampered_file_with_a_planted_type_is_refused():
    data = dump_model(_fitted_image_pipeline())
    # Someone with write access to the bucket swaps our scaler for subprocess.Popen.
    tampered = _retarget_class(data, "PixelScaler", "learning.pipelines", "Popen", "subprocess")
    with pytest.raises(UntrustedModelError, match="not trusted, refusing to load: subprocess.Popen"):
        load_model(tampered)


def test_unknown_class_is_refused_on_save_and_on_load():
    with pytest.raises(UntrustedModelError, match="Planted"):
        dump_model(Planted())
    # Even when the caller vets the type to write it, a default load refuses it.
    name = f"{Planted.__module__}.Planted"
    data = dump_model(Planted(), extra_trusted=[name])
    with pytest.raises(UntrustedModelError, match="Planted"):
        load_model(data)


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04 truncated"])
def test_corrupt_file_is_a_clear_error(data):
    with pytest.raises(RegistryError, match="corrupt or not a skops file"):
        load_model(data)


def test_card_round_trip_and_bad_card():
    metrics = compute_metrics(["a", "b", "a"], ["a", "b", "b"], "holdout", ["1", "2", "3"])
    card = ModelCard(
        name="digits",
        version=make_version(datetime(2026, 11, 22, 6, 11, tzinfo=UTC)),
        created_at=datetime(2026, 11, 22, 6, 11, tzinfo=UTC),
        labels_version="labels-0003",
        data_batches=["batch-1", "batch-2"],
        n_train_items=120,
        classes=["a", "b"],
        features=IMAGE,
        estimator=EstimatorSpec(import_path="sklearn.linear_model.LogisticRegression", params={"C": 1.0}),
        metrics=metrics,
        code_version="abc123",
    )
    assert card_from_bytes(card_to_bytes(card)) == card
    with pytest.raises(RegistryError, match="models/digits/v1/card.json is not a valid model card"):
        card_from_bytes(b'{"name": "digits"}', source="models/digits/v1/card.json")


def test_versions_sort_by_time_whatever_the_timezone():
    early = make_version(datetime(2026, 11, 22, 8, 0, tzinfo=timezone(timedelta(hours=3))))  # 05:00 UTC
    late = make_version(datetime(2026, 11, 22, 6, 0, tzinfo=UTC))
    assert early == "v20261122T050000000000Z"
    assert early < late
    with pytest.raises(RegistryError, match="timezone-aware"):
        make_version(datetime(2026, 11, 22, 6, 0))


def test_keys():
    assert model_key("digits", "v1") == "models/digits/v1/model.skops"
    assert card_key("digits", "v1") == "models/digits/v1/card.json"
    assert champion_key("digits") == "models/digits/champion.json"


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", ".hidden", "x y"])
def test_bad_names_are_refused(bad):
    with pytest.raises(RegistryError, match="must start with a letter or digit"):
        model_key(bad, "v1")


def test_promotion_and_rollback_pointers():
    t0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    first = next_pointer(None, "v1", t0)
    second = next_pointer(first, "v2", t0 + timedelta(hours=1))
    assert (second.version, second.previous) == ("v2", "v1")
    rolled_back = next_pointer(second, second.previous, t0 + timedelta(hours=2))
    assert (rolled_back.version, rolled_back.previous) == ("v1", "v2")
    assert pointer_from_json(rolled_back.model_dump(mode="json")) == rolled_back
    with pytest.raises(RegistryError, match="already the champion"):
        next_pointer(second, "v2", t0)
    with pytest.raises(RegistryError, match="not a valid champion pointer"):
        pointer_from_json({"version": 3})
    assert isinstance(first, ChampionPointer) and first.previous is None
