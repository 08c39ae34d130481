"""scikit-learn's handwritten digits as PNG files in a landing folder, and their truth."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

# The 8x8 digits are scaled up so a person can label them in the browser; the
# pipeline reads them back at 8x8 (DatasetSpec.image_size).
PIXELS_PER_CELL = 8


def digit_png(image: np.ndarray) -> bytes:
    """One 0..16 digit image as an upscaled 8-bit grayscale PNG."""
    gray = Image.fromarray((np.asarray(image) * 255 / 16).astype("uint8"))
    size = (gray.width * PIXELS_PER_CELL, gray.height * PIXELS_PER_CELL)
    buffer = io.BytesIO()
    gray.resize(size, Image.Resampling.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def drop_digits(landing: Path, count: int | None = None) -> dict[str, str]:
    """Write the digits as PNGs into `landing` (same bytes on every run).

    Args:
        landing: the folder the collect flow watches.
        count: how many of the 1,797 digits (all by default).

    Returns:
        sha256 of each PNG -> its true label (what an oracle annotator knows).
    """
    digits = load_digits()
    n = len(digits.images) if count is None else min(count, len(digits.images))
    landing.mkdir(parents=True, exist_ok=True)
    truth: dict[str, str] = {}
    for i in range(n):
        data = digit_png(digits.images[i])
        path = landing / f"digit-{i:04d}.png"
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        truth[hashlib.sha256(data).hexdigest()] = str(digits.target[i])
    return truth


def checksum_of_task_image(image_ref: str) -> str:
    """The sha256 in a task's image reference (`.../files/<sha256>.png`)."""
    path = parse_qs(urlparse(image_ref).query).get("d", [urlparse(image_ref).path])[0]
    return Path(path).stem
