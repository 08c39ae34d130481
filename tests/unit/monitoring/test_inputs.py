"""What drift monitoring reads from clean rows: the model's inputs per modality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from learning.pipelines import FeatureSpec
from monitoring.inputs import monitored_frame, pixel_columns
from monitoring.profile import build_profile, compare

IMAGE = FeatureSpec(modality="image", pixel_max=255)
TABLE = FeatureSpec(modality="tabular", numeric_columns=["a", "b"], categorical_columns=["c"])
TEXT = FeatureSpec(modality="text", text_column="text")


def image_rows(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(n)],
            "key": [f"raw/digits/files/{k}.png" for k in range(n)],
            "size": np.full(n, 120),
            "_source": ["file:///x"] * n,
            "_row_hash": ["h"] * n,
        }
    )


def test_images_are_read_as_the_pixels_the_model_takes() -> None:
    rows = image_rows(5)
    pixels = np.arange(5 * 4, dtype=np.uint8).reshape(5, 4)
    monitored = monitored_frame(IMAGE, rows, pixels)
    assert monitored.kinds == dict.fromkeys(pixel_columns(4), "numeric")
    assert list(monitored.frame.columns) == ["item_id", "key", "size", *pixel_columns(4)]
    assert monitored.frame["pixel_3"].tolist() == [3.0, 7.0, 11.0, 15.0, 19.0]


@pytest.mark.parametrize(
    ("pixels", "message"),
    [(None, "needs the pixels"), (np.zeros((4, 64)), "do not match 5 rows")],
)
def test_images_without_matching_pixels_are_refused(pixels, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        monitored_frame(IMAGE, image_rows(5), pixels)


def test_tables_profile_the_model_columns_only() -> None:
    rows = pd.DataFrame(
        {"item_id": ["1", "2"], "a": [1.0, 2.0], "b": [3, 4], "c": ["x", "y"], "note": ["n", "m"]}
    )
    monitored = monitored_frame(TABLE, rows)
    assert monitored.kinds == {"a": "numeric", "b": "numeric", "c": "categorical"}
    assert "note" in monitored.frame.columns
    lacking = monitored_frame(TABLE, rows.drop(columns=["b"]))
    assert lacking.kinds == {"a": "numeric", "c": "categorical"}


def test_text_is_profiled_as_text() -> None:
    rows = pd.DataFrame({"item_id": ["1"], "text": ["a few words"], "lang": ["en"]})
    assert monitored_frame(TEXT, rows).kinds == {"text": "text"}


def test_identifiers_of_image_rows_never_count_as_drift() -> None:
    """Every batch has new keys and sizes: only the pixels are compared."""
    rng = np.random.default_rng(0)
    reference = monitored_frame(IMAGE, image_rows(600), rng.integers(0, 256, (600, 16)))
    profile = build_profile(reference.frame, kinds=reference.kinds)
    batch_rows = image_rows(300).assign(key=[f"other/{k}" for k in range(300)], size=999)
    batch = monitored_frame(IMAGE, batch_rows, rng.integers(0, 256, (300, 16)))
    report = compare(profile, batch.frame)
    assert report.checked and not report.drifted
    assert report.messages == []
    assert {f.column for f in report.features} == set(pixel_columns(16))
