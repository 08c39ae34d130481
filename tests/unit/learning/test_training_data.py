import io
import zlib

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


def _png_rows_filters(data: bytes) -> set[int]:
    """The filter type of every row of a grayscale PNG (first byte of each row)."""
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8 : start - 4], "big")
    raw = zlib.decompress(data[start : start + length])
    width = int.from_bytes(data[16:20], "big")
    return {raw[r] for r in range(0, len(raw), width + 1)}


def test_small_grayscale_pngs_decode_to_the_pixels_pillow_reads() -> None:
    # Every PNG row filter of an 8-bit grayscale file must give the pixels as stored.
    rng = np.random.default_rng(0)
    filters: set[int] = set()
    for n in range(120):
        width, height = int(rng.integers(1, 30)), int(rng.integers(1, 30))
        noise = rng.integers(0, 256, (height, width))
        ramps = np.cumsum(rng.integers(0, 9, (height, width)), axis=1) % 256
        gray = (noise if n % 2 else ramps).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(gray).save(buffer, format="PNG", optimize=n % 3 == 0)
        data = buffer.getvalue()
        filters |= _png_rows_filters(data)
        with Image.open(io.BytesIO(data)) as image:
            expected = np.asarray(image, dtype=np.uint8).reshape(-1)
        np.testing.assert_array_equal(decode_image(data, (width, height), "item a"), expected)
    assert filters == {0, 1, 2, 3, 4}


def test_a_damaged_small_png_is_named() -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[data.index(b"IDAT") + 6] ^= 0xFF  # a flipped byte: the chunk's checksum fails
    with pytest.raises(TrainingError, match="item a is not a readable image"):
        decode_image(bytes(data), (8, 8), "item a")


def test_comparison_excludes_the_champions_training_items() -> None:
    assert comparison_positions([0, 2, 3], ["a", "b", "c", "d"], {"a", "d"}) == [2]
