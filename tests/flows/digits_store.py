"""A local DataStore holding the digits data set as the loop leaves it: clean rows, PNGs, labels."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Sequence

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


def write_digits(store: DataStore, n: int = 1797) -> pd.DataFrame:
    """PNGs under files/digits/, one clean batch; returns the clean rows plus the true label."""
    digits = load_digits()
    rows = []
    for i in range(n):
        data = digit_png(digits.images[i])
        checksum = hashlib.sha256(data).hexdigest()
        key = f"files/digits/{i:04d}.png"
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
    store.write_parquet("clean/digits/b1.parquet", clean)
    truth = {f"files/digits/{i:04d}.png": str(digits.target[i]) for i in range(n)}
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


def write_labels(store: DataStore, version: str, records: list[dict[str, object]]) -> str:
    """Write a labels version and point latest.json at it."""
    key = f"labels/digits/{version}.parquet"
    store.write_parquet(key, pd.DataFrame(records))
    store.replace_json(
        "labels/digits/latest.json", {"version": version, "key": key, "labels": len(records)}
    )
    return key
