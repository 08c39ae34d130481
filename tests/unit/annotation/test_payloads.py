from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from annotation.config import DataKind, LabelSpec, build_label_config
from annotation.errors import TaskPayloadError
from annotation.payloads import ItemValue, build_task, build_tasks, chunked


def _config(kind: DataKind):
    return build_label_config(LabelSpec(kind=kind, labels=["x", "y"]))


def test_text_travels_inline_with_the_item_id(text_config) -> None:
    payload = build_task(ItemValue(item_id="h1", value="hello"), text_config)
    assert payload == {"data": {"text": "hello", "item_id": "h1"}}


def test_image_value_is_the_callers_url() -> None:
    payload = build_task(
        ItemValue(item_id="h2", value="s3://bucket/a.png"), _config(DataKind.IMAGE)
    )
    assert payload == {"data": {"image": "s3://bucket/a.png", "item_id": "h2"}}


def test_tabular_cells_become_json_values() -> None:
    row = {
        "a": np.float64(1.5),
        "b": np.int64(3),
        "c": float("nan"),
        "d": dt.date(2024, 1, 2),
        "e": "s",
        "f": None,
    }
    payload = build_task(ItemValue(item_id="h3", value=row), _config(DataKind.TABULAR))
    assert payload["data"]["row"] == {
        "a": 1.5,
        "b": 3,
        "c": None,
        "d": "2024-01-02",
        "e": "s",
        "f": None,
    }
    assert type(payload["data"]["row"]["b"]) is int


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (DataKind.TEXT, "", "needs a non-empty string"),
        (DataKind.TEXT, 3, "needs a non-empty string"),
        (DataKind.IMAGE, None, "image URL or path"),
        (DataKind.TABULAR, "a,b", "mapping"),
        (DataKind.TABULAR, {"a": object()}, "column 'a'"),
    ],
)
def test_a_value_that_does_not_fit_names_the_item(
    kind: DataKind, value: object, message: str
) -> None:
    with pytest.raises(TaskPayloadError, match=f"item bad-1.*{message}"):
        build_task(ItemValue(item_id="bad-1", value=value), _config(kind))


def test_an_item_twice_in_one_push_is_refused(text_config) -> None:
    items = [
        ItemValue(item_id="a", value="x"),
        ItemValue(item_id="b", value="y"),
        ItemValue(item_id="a", value="z"),
    ]
    with pytest.raises(TaskPayloadError, match="item a: appears twice"):
        build_tasks(items, text_config)


@pytest.mark.parametrize(
    ("n", "size", "sizes"), [(0, 3, []), (5, 5, [5]), (7, 3, [3, 3, 1]), (2, 10, [2])]
)
def test_chunked_keeps_order_and_everything(n: int, size: int, sizes: list[int]) -> None:
    chunks = list(chunked(list(range(n)), size))
    assert [len(chunk) for chunk in chunks] == sizes
    assert [value for chunk in chunks for value in chunk] == list(range(n))


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk size"):
        list(chunked([1], 0))
