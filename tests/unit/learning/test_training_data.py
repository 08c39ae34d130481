import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from learning.training import TrainingError, comparison_positions, decode_image, join_labels


def _labels(rows):
    return pd.DataFrame(rows, columns=["item_id", "label", "status"])


CLEAN = pd.DataFrame({"item_id": ["a", "b", "c"], "key": ["ka", "kb", "kc"], "label": [1, 2, 3]})


def test_join_keeps_resolved_labels_of_known_items() -> None:
    labels = _labels(
        [
            ("a", "7", "resolved"),
            ("b", None, "unresolved"),
            ("z", "1", "resolved"),
            ("c", "3", "resolved"),
        ]
    )
    joined = join_labels(labels, CLEAN, "labels/digits/v1.parquet")
    assert joined.rows[["item_id", "key", "label"]].values.tolist() == [
        ["a", "ka", "7"],
        ["c", "kc", "3"],
    ]
    assert (joined.n_labels, joined.n_unresolved, joined.missing_items) == (4, 1, ["z"])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (_labels([("a", "1", "resolved"), ("a", "2", "resolved")]), "more than once"),
        (pd.DataFrame({"item_id": ["a"], "label": ["1"]}), "no column"),
    ],
)
def test_bad_labels_versions_are_named(labels, message) -> None:
    with pytest.raises(TrainingError, match=message):
        join_labels(labels, CLEAN, "labels/digits/v1.parquet")


def test_images_are_grayscale_and_resized() -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 200, dtype=np.uint8)).save(buffer, format="PNG")
    pixels = decode_image(buffer.getvalue(), (8, 8), "item a")
    assert pixels.shape == (64,) and int(pixels.max()) == 200
    with pytest.raises(TrainingError, match="item a"):
        decode_image(b"not an image", (8, 8), "item a")


def test_grayscale_and_color_files_of_one_image_give_the_same_pixels() -> None:
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    files = []
    for image in (Image.fromarray(gray), Image.fromarray(gray).convert("RGB")):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        files.append(decode_image(buffer.getvalue(), (8, 8), "item a"))
    np.testing.assert_array_equal(files[0], gray.reshape(-1))
    np.testing.assert_array_equal(files[1], gray.reshape(-1))
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG")
    data = buffer.getvalue()
    truncated = data[: data.index(b"IDAT") + 10]  # a grayscale file is decoded as it is read
    with pytest.raises(TrainingError, match="item a is not a readable image"):
        decode_image(truncated, (8, 8), "item a")


def test_comparison_excludes_the_champions_training_items() -> None:
    assert comparison_positions([0, 2, 3], ["a", "b", "c", "d"], {"a", "d"}) == [2]
