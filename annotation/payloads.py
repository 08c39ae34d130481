"""Rows -> Label Studio task payloads, and chunking for bulk import."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from annotation.config import ClassificationConfig, DataKind
from annotation.errors import TaskPayloadError
from annotation.models import ITEM_ID_KEY

T = TypeVar("T")


class ItemValue(BaseModel):
    """One item to label: its id and the value the labelling object shows.

    Attributes:
        item_id: the content hash from cleansing; carried in the task data.
        value: the text (text), the URL or path the caller resolved (image), or a
            mapping of column -> value (tabular).
    """

    model_config = ConfigDict(frozen=True)

    item_id: str = Field(min_length=1)
    value: Any


def _json_scalar(value: Any, where: str) -> Any:
    """A JSON-safe version of one tabular cell (numpy scalars, NaN, datetimes)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    item = getattr(value, "item", None)
    if callable(item):
        return _json_scalar(item(), where)
    raise TaskPayloadError(f"{where}: {type(value).__name__} is not a JSON value")


def _task_value(item: ItemValue, config: ClassificationConfig) -> Any:
    where = f"item {item.item_id}"
    kind = config.kind
    if kind is DataKind.TABULAR:
        if not isinstance(item.value, Mapping) or not item.value:
            raise TaskPayloadError(
                f"{where}: a tabular item needs a non-empty mapping of column -> value"
            )
        return {str(k): _json_scalar(v, f"{where}, column {k!r}") for k, v in item.value.items()}
    if not isinstance(item.value, str) or not item.value:
        what = "an image URL or path" if kind is DataKind.IMAGE else "a non-empty string"
        raise TaskPayloadError(
            f"{where}: {config.object_tag} object '{config.to_name}' needs {what}"
        )
    return item.value


def build_task(item: ItemValue, config: ClassificationConfig) -> dict[str, Any]:
    """Make the import payload of one task.

    Args:
        item: the item id and its value.
        config: the project's config; its data key receives the value.

    Returns:
        ``{"data": {<data_key>: value, "item_id": item_id}}``.

    Raises:
        TaskPayloadError: the value does not fit the config's object (names the item).
    """
    return {"data": {config.data_key: _task_value(item, config), ITEM_ID_KEY: item.item_id}}


def build_tasks(items: Iterable[ItemValue], config: ClassificationConfig) -> list[dict[str, Any]]:
    """Make the import payloads of many items, refusing a repeated item_id.

    Args:
        items: items in push order.
        config: the project's config.

    Returns:
        One payload per item, in order.

    Raises:
        TaskPayloadError: a value does not fit, or an item_id repeats.
    """
    payloads: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        if item.item_id in seen:
            raise TaskPayloadError(f"item {item.item_id}: appears twice in one push")
        seen.add(item.item_id)
        payloads.append(build_task(item, config))
    return payloads


def chunked(values: Sequence[T], size: int) -> Iterator[list[T]]:
    """Split a sequence into consecutive chunks of at most ``size``.

    Args:
        values: what to split.
        size: the chunk size (>= 1).

    Returns:
        An iterator of lists; empty for an empty sequence.

    Raises:
        ValueError: ``size`` < 1.
    """
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    for start in range(0, len(values), size):
        yield list(values[start : start + size])
