"""Profile pieces the flows use: columns known but not profiled, a prediction section from
fewer (out-of-fold) rows, reports that say why nothing was compared, the per-batch record."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from monitoring.profile import (
    DriftRecord,
    DriftThresholds,
    ReferenceProfile,
    build_profile,
    compare,
    not_checked,
    prediction_profile,
    record_markdown,
)

CLASSES = ["a", "b", "c"]


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "item_id": [f"i{seed}-{k}" for k in range(n)],
            "x": rng.normal(shift, 1.0, n),
            "key": [f"files/{seed}-{k}.png" for k in range(n)],
            "checksum": [f"{seed:08x}{k:056x}" for k in range(n)],
        }
    )


def proba(n: int, seed: int, mix: tuple[float, float, float] = (0.4, 0.4, 0.2)) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 100)
    top = rng.choice(3, size=n, p=list(mix))
    confidence = rng.uniform(0.6, 1.0, n)
    values = np.tile(((1 - confidence) / 2)[:, None], (1, 3))
    values[np.arange(n), top] = confidence
    return pd.DataFrame(values, columns=CLASSES)


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    data = build_profile(frame(2000, seed=1), kinds={"x": "numeric"})
    # The prediction section from 400 out-of-fold rows only, as a holdout gives.
    return data.model_copy(update={"predictions": prediction_profile(proba(400, seed=1))})


def test_columns_not_profiled_are_known_not_new(profile: ReferenceProfile) -> None:
    assert profile.columns == {"x": "numeric"}
    assert profile.other_columns == ["key", "checksum"]  # item_id is bookkeeping
    report = compare(profile, frame(300, seed=2), proba(300, seed=2))
    assert report.checked and not report.drifted
    assert report.messages == []


def test_a_column_the_reference_never_saw_is_named(profile: ReferenceProfile) -> None:
    report = compare(profile, frame(300, seed=2).assign(colour="red"), proba(300, seed=2))
    assert not report.drifted
    assert report.messages == ["columns not in the reference profile, not checked: ['colour']"]


def test_prediction_section_from_fewer_rows_than_the_data(profile: ReferenceProfile) -> None:
    assert profile.n_rows == 2000
    assert profile.predictions is not None and profile.predictions.class_mix.n == 400
    same = compare(profile, frame(300, seed=3), proba(300, seed=3))
    assert not same.drifted
    tilted = compare(profile, frame(300, seed=3), proba(300, seed=3, mix=(0.1, 0.2, 0.7)))
    assert tilted.drifted_columns == ["prediction"]


def test_shift_in_a_profiled_column_is_drift(profile: ReferenceProfile) -> None:
    report = compare(profile, frame(300, seed=4, shift=1.0), proba(300, seed=4))
    assert report.drifted_columns == ["x"]


def test_prediction_profile_needs_rows() -> None:
    with pytest.raises(ValueError, match="empty frame"):
        prediction_profile(proba(5, seed=1).iloc[0:0])


def test_not_checked_says_why_and_never_drifts() -> None:
    report = not_checked(120, "model m has no champion yet", DriftThresholds(psi=0.3))
    assert (report.checked, report.drifted, report.n_rows) == (False, False, 120)
    assert report.messages == ["model m has no champion yet"]
    assert report.thresholds.psi == 0.3


def test_record_markdown_names_batch_and_champion(profile: ReferenceProfile) -> None:
    report = compare(profile, frame(300, seed=4, shift=1.0), proba(300, seed=4))
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    record = DriftRecord(
        dataset="digits",
        batch_id="b9",
        model_name="digits",
        model_version="20240101T000000000000Z-abcdef",
        checked_at=when,
        report=report,
    )
    text = record_markdown(record)
    assert text.startswith("# Drift report: **drifted**: x\n")
    assert "batch `b9`, champion digits 20240101T000000000000Z-abcdef" in text
    assert "| x |" in text
    restored = DriftRecord.model_validate_json(record.model_dump_json())
    assert restored.report.drifted_columns == ["x"]
    unchecked = record.model_copy(
        update={"model_version": None, "report": not_checked(10, "no champion")}
    )
    assert "no champion of digits" in record_markdown(unchecked)
    assert "- no champion" in record_markdown(unchecked)
