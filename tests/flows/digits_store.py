"""A local DataStore holding the digits data set as the loop leaves it: clean rows, PNGs, labels."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.datasets import load_digits

from annotation.labels import ItemLabel
from blocks import DataStore

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def digit_png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((image * 255 / 16).astype("uint8")).save(buffer, format="PNG")
    return buffer.getvalue()


def write_digits(store: DataStore, n: int = 1797, dataset: str = "digits") -> pd.DataFrame:
    """PNGs under files/<dataset>/, one clean batch; returns the clean rows plus the true label."""
    digits = load_digits()
    rows = []
    for i in range(n):
        data = digit_png(digits.images[i])
        checksum = hashlib.sha256(data).hexdigest()
        key = f"files/{dataset}/{i:04d}.png"
        store.write_bytes(key, data)
        rows.append(
            {
                "item_id": checksum[:32],
                "key": key,
                "size": len(data),
                "checksum": checksum,
                "label": pd.NA,
            }
        )
    clean = pd.DataFrame(rows).drop_duplicates(subset=["item_id"]).reset_index(drop=True)
    store.write_parquet(f"clean/{dataset}/b1.parquet", clean)
    truth = {f"files/{dataset}/{i:04d}.png": str(digits.target[i]) for i in range(n)}
    return clean.assign(truth=clean["key"].map(truth))


def label_records(
    item_ids: Sequence[str], labels: Sequence[str | None], start_task: int = 1
) -> list[dict[str, object]]:
    """Rows of a labels version: ``ItemLabel.to_record()`` + status (None = unresolved)."""
    records = []
    for n, (item_id, label) in enumerate(zip(item_ids, labels, strict=True)):
        record = ItemLabel(
            item_id=item_id,
            task_id=start_task + n,
            label=label or "0",
            agreement=1.0,
            annotators=(1,),
            annotation_ids=(start_task + n,),
            votes={label or "0": 1},
            first_annotated_at=T0,
            last_annotated_at=T0,
            model_version=None,
        ).to_record()
        record["status"] = "resolved" if label is not None else "unresolved"
        if label is None:
            record["label"] = None
        records.append(record)
    return records


def write_labels(
    store: DataStore, version: str, records: list[dict[str, object]], dataset: str = "digits"
) -> str:
    """Write a labels version and point latest.json at it."""
    key = f"labels/{dataset}/{version}.parquet"
    store.write_parquet(key, pd.DataFrame(records))
    store.replace_json(
        f"labels/{dataset}/latest.json", {"version": version, "key": key, "labels": len(records)}
    )
    return key


def split_digits(
    clean: pd.DataFrame, n_train: int, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    """A random `n_train` of `write_digits`' rows to label, and the `load_digits` indexes
    of the others. Random, not the first rows: the data set is ordered by writer, and the
    later writers' digits differ measurably from the earlier ones'."""
    rng = np.random.default_rng(seed)
    picked = clean.iloc[np.sort(rng.choice(len(clean), n_train, replace=False))]
    trained = {int(key.rsplit("/", 1)[1].removesuffix(".png")) for key in picked["key"]}
    unseen = np.array([i for i in range(len(load_digits().target)) if i not in trained])
    return picked, unseen


def new_digit_pngs(
    folder: Path, pool: np.ndarray, *, shifted: bool, n: int = 300, seed: int = 0
) -> Path:
    """PNGs of `n` digits drawn from `pool` (indexes of `load_digits`); shifted: Gaussian
    pixel noise (sigma 2 of 16) and 3 in 4 of them digits 0-4 (about half otherwise)."""
    digits = load_digits()
    rng = np.random.default_rng(seed)
    if shifted:
        low, high = pool[digits.target[pool] < 5], pool[digits.target[pool] >= 5]
        n_low = n * 3 // 4
        picked = np.concatenate(
            [rng.choice(low, n_low, replace=False), rng.choice(high, n - n_low, replace=False)]
        )
    else:
        picked = rng.choice(pool, n, replace=False)
    folder.mkdir(parents=True)
    for i in picked:
        image = digits.images[i]
        if shifted:
            image = np.clip(np.rint(image + rng.normal(0, 2.0, image.shape)), 0, 16)
        (folder / f"{i:04d}.png").write_bytes(digit_png(image))
    return folder
