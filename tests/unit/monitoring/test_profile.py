"""Reference profiles and drift reports on small generated frames of every column kind."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from monitoring.profile import (
    DriftThresholds,
    ReferenceProfile,
    build_profile,
    compare,
    feature_names,
    infer_kind,
    report_markdown,
)

CLASSES = ["cat", "dog", "eel"]
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "runs"]


def make_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "item_id": [f"h{seed}-{i}" for i in range(n)],
            "size": rng.normal(10.0, 2.0, n),
            "count": rng.poisson(3, n),
            "colour": rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2]),
            "comment": [" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(n)],
            "image": [rng.integers(0, 8, size=(4, 4)).astype(float) for _ in range(n)],
        }
    )


def make_predictions(
    n: int, seed: int, mix: tuple[float, float, float] = (0.5, 0.3, 0.2)
) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1000)
    top = rng.choice(3, size=n, p=list(mix))
    confidence = rng.uniform(0.5, 1.0, n)
    proba = np.tile(((1 - confidence) / 2)[:, None], (1, 3))
    proba[np.arange(n), top] = confidence
    return pd.DataFrame(proba, columns=CLASSES)


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    return build_profile(make_frame(3000, seed=1), make_predictions(3000, seed=1))


def test_profile_reads_every_kind_and_skips_ids(profile: ReferenceProfile) -> None:
    assert profile.columns == {
        "size": "numeric",
        "count": "numeric",
        "colour": "categorical",
        "comment": "text",
        "image": "image",
    }
    assert set(feature_names(profile)) == {
        "size",
        "count",
        "colour",
        "comment.length",
        "comment.tokens",
        "comment.oov",
        "image.mean",
        "image.std",
        "image.intensity",
        "prediction.class",
        "prediction.confidence",
    }
    assert sorted(profile.vocabularies["comment"]) == sorted(WORDS)
    assert profile.predictions is not None and profile.predictions.classes == CLASSES
    for feature in profile.features.values():
        assert sum(feature.proportions) == pytest.approx(1.0)


def test_profile_survives_json(profile: ReferenceProfile) -> None:
    restored = ReferenceProfile.model_validate_json(profile.model_dump_json())
    assert restored == profile
    batch = make_frame(400, seed=2)
    assert compare(restored, batch).model_dump() == compare(profile, batch).model_dump()


def test_same_distribution_is_not_drift(profile: ReferenceProfile) -> None:
    report = compare(profile, make_frame(400, seed=2), make_predictions(400, seed=2))
    assert report.checked and not report.drifted
    assert report.drifted_columns == []
    assert len(report.features) == 11
    assert report.alpha_per_test == pytest.approx(0.05 / 11)
    assert report.messages == []


def test_identical_data_has_zero_psi() -> None:
    frame = make_frame(500, seed=3)
    report = compare(build_profile(frame), frame)
    assert max(f.psi for f in report.features) == pytest.approx(0.0, abs=1e-12)
    assert min(f.p_value for f in report.features) == pytest.approx(1.0)


def _shift_size(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(size=frame["size"] + 3.0)


def _new_colour(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(colour=np.where(np.arange(len(frame)) % 2 == 0, "purple", frame["colour"]))


def _foreign_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(comment=[f"{c} zebra quokka axolotl narwhal" for c in frame["comment"]])


def _noisy_images(frame: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(9)
    return frame.assign(
        image=[np.clip(im + rng.normal(0, 3, im.shape), 0, 7) for im in frame["image"]]
    )


@pytest.mark.parametrize(
    ("shift", "column"),
    [
        (_shift_size, "size"),
        (_new_colour, "colour"),
        (_foreign_text, "comment"),
        (_noisy_images, "image"),
    ],
)
def test_a_shifted_column_is_the_one_reported(
    profile: ReferenceProfile, shift: Callable[[pd.DataFrame], pd.DataFrame], column: str
) -> None:
    report = compare(profile, shift(make_frame(400, seed=2)), make_predictions(400, seed=2))
    assert report.drifted
    assert report.drifted_columns == [column]
    assert all(f.column == column for f in report.drifted_features)
    assert "drifted" in report_markdown(report) and column in report_markdown(report)


def test_prediction_class_mix_shift(profile: ReferenceProfile) -> None:
    report = compare(
        profile, make_frame(400, seed=2), make_predictions(400, seed=2, mix=(0.1, 0.2, 0.7))
    )
    assert report.drifted_columns == ["prediction"]
    assert [f.feature for f in report.drifted_features] == ["prediction.class"]


def test_many_columns_from_the_reference_rarely_alarm() -> None:
    """Bonferroni: 80 independent columns, 40 batches, at most a few alarms (alpha 5%)."""
    rng = np.random.default_rng(5)
    columns = [f"x{i}" for i in range(80)]
    reference = pd.DataFrame(rng.normal(size=(4000, 80)), columns=columns)
    profile = build_profile(reference)
    reports = [
        compare(profile, pd.DataFrame(rng.normal(size=(300, 80)), columns=columns))
        for _ in range(40)
    ]
    assert sum(r.drifted for r in reports) <= 4
    # Each column tested at 5% on its own would flag nearly every batch.
    assert sum(min(f.p_value for f in r.features) < 0.05 for r in reports) >= 30


def test_extra_and_missing_columns_are_messages_not_drift(profile: ReferenceProfile) -> None:
    batch = make_frame(400, seed=2).drop(columns=["colour"]).assign(weight=np.arange(400))
    report = compare(profile, batch, make_predictions(400, seed=2))
    assert report.checked and not report.drifted
    assert "colour" not in {f.column for f in report.features}
    assert any("not in the reference profile" in m and "weight" in m for m in report.messages)
    assert any("missing from the batch" in m and "colour" in m for m in report.messages)


@pytest.mark.parametrize(
    ("profile_given", "batch", "message"),
    [
        (False, make_frame(50, seed=4), "no reference profile"),
        (True, make_frame(50, seed=4).iloc[0:0], "empty batch"),
        (True, pd.DataFrame({"other": [1, 2, 3]}), "nothing compared"),
    ],
)
def test_nothing_to_compare(
    profile: ReferenceProfile, profile_given: bool, batch: pd.DataFrame, message: str
) -> None:
    report = compare(profile if profile_given else None, batch)
    assert not report.checked and not report.drifted
    assert any(message in m for m in report.messages)


def test_small_batch_gets_statistics_but_no_decision(profile: ReferenceProfile) -> None:
    report = compare(profile, _shift_size(make_frame(20, seed=4)))
    assert report.checked and not report.drifted
    assert report.features
    assert any("below min_rows=30" in m for m in report.messages)


def test_profile_missing_sections(profile: ReferenceProfile) -> None:
    damaged = profile.model_copy(
        update={
            "predictions": None,
            "vocabularies": {},
            "features": {k: v for k, v in profile.features.items() if k != "size"},
        }
    )
    report = compare(damaged, make_frame(400, seed=2), make_predictions(400, seed=2))
    assert report.checked and not report.drifted
    assert {f.feature for f in report.features}.isdisjoint(
        {"size", "comment.oov", "prediction.class"}
    )
    text = " ".join(report.messages)
    assert "no prediction section" in text
    assert "no vocabulary for text column 'comment'" in text
    assert "no feature 'size'" in text


@pytest.mark.parametrize(
    ("predictions", "message"),
    [
        (make_predictions(400, seed=2).rename(columns={"eel": "owl"}), "differ from the profile"),
        (make_predictions(300, seed=2), "300 rows but the batch has 400"),
    ],
)
def test_unusable_predictions_are_messages(
    profile: ReferenceProfile, predictions: pd.DataFrame, message: str
) -> None:
    report = compare(profile, make_frame(400, seed=2), predictions)
    assert not report.drifted
    assert "prediction" not in {f.column for f in report.features}
    assert any(message in m for m in report.messages)


def test_non_numeric_values_in_a_numeric_column_are_reported(profile: ReferenceProfile) -> None:
    batch = make_frame(400, seed=2)
    batch["size"] = batch["size"].astype(object)
    batch.loc[:199, "size"] = "n/a"
    report = compare(profile, batch)
    assert any("'size': 200 values are not numbers" in m for m in report.messages)
    assert report.drifted_columns == ["size"]  # half the values went missing: a real change


def test_bad_images_are_reported_not_raised(profile: ReferenceProfile) -> None:
    batch = make_frame(400, seed=2)
    batch["image"] = batch["image"].astype(object)
    batch.loc[:4, "image"] = ["not an image", None, np.nan, [[1.0, 2.0], [3.0]], [["a", "b"]]]
    report = compare(profile, batch)
    assert any("'image': 5 rows have no image" in m for m in report.messages)
    assert not report.drifted


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (pd.Series([1.5, 2.0]), "numeric"),
        (pd.Series([1, 2]), "numeric"),
        (pd.Series([True, False]), "categorical"),
        (pd.Series(["a", "b", "a"]), "categorical"),
        (pd.Series(["a long sentence", "another one"]), "text"),
        (pd.Series([np.zeros((2, 2)), np.ones((2, 2))]), "image"),
        (pd.Series(pd.to_datetime(["2024-01-01"])), None),
        (pd.Series([None, None], dtype=object), None),
    ],
)
def test_infer_kind(values: pd.Series, kind: str | None) -> None:
    assert infer_kind(values) == kind


def test_build_profile_rejects_bad_input() -> None:
    frame = make_frame(10, seed=1)
    with pytest.raises(ValueError, match="empty frame"):
        build_profile(frame.iloc[0:0])
    with pytest.raises(ValueError, match="not in the frame"):
        build_profile(frame, kinds={"nope": "numeric"})
    with pytest.raises(ValueError, match="predictions have 3 rows"):
        build_profile(frame, make_predictions(3, seed=1))


@pytest.mark.parametrize("field", [{"alpha": 0.0}, {"alpha": 1.0}, {"psi": -0.1}, {"min_rows": 0}])
def test_thresholds_are_validated(field: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        DriftThresholds(**field)
