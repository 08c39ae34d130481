"""Model outputs -> Label Studio prediction dicts, checked with ``LabelInterface``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from annotation.config import ClassificationConfig
from annotation.errors import PredictionError


class ItemPrediction(BaseModel):
    """A model's class probabilities for one item.

    Attributes:
        item_id: the item.
        probabilities: label -> probability; every label must be in the config.
    """

    model_config = ConfigDict(frozen=True)

    item_id: str = Field(min_length=1)
    probabilities: dict[str, float] = Field(min_length=1)


def choice_result(config: ClassificationConfig, label: str) -> list[dict[str, Any]]:
    """The result list of a single-choice classification, names read from the config.

    Args:
        config: the project's config.
        label: the chosen label.

    Returns:
        A one-region result list.
    """
    return [
        {
            "from_name": config.from_name,
            "to_name": config.to_name,
            "type": "choices",
            "value": {"choices": [label]},
        }
    ]


def build_prediction(
    task_id: int | None,
    prediction: ItemPrediction,
    model_version: str,
    config: ClassificationConfig,
) -> dict[str, Any]:
    """Make one prediction dict for ``projects.import_predictions``.

    The result is the most probable label; ``score`` is its probability.

    Args:
        task_id: the Label Studio task holding the item; None for a prediction sent inline with its task.
        prediction: the item's class probabilities.
        model_version: the model version shown to annotators.
        config: the project's config.

    Returns:
        ``{"task", "model_version", "score", "result"}``, validated by ``LabelInterface``.

    Raises:
        PredictionError: a label is not in the config, a probability is outside
            [0, 1], or ``LabelInterface`` rejects the prediction (names the item).
    """
    where = f"item {prediction.item_id}" + (f" (task {task_id})" if task_id is not None else "")
    unknown = sorted(label for label in prediction.probabilities if label not in config.labels)
    if unknown:
        raise PredictionError(
            f"{where}: labels {unknown} are not in the label config {list(config.labels)}"
        )
    bad = {label: p for label, p in prediction.probabilities.items() if not 0.0 <= p <= 1.0}
    if bad:
        raise PredictionError(f"{where}: probabilities outside [0, 1]: {bad}")
    if not model_version:
        raise PredictionError(f"{where}: model_version is empty")
    label, score = max(
        prediction.probabilities.items(), key=lambda kv: (kv[1], -config.labels.index(kv[0]))
    )
    payload: dict[str, Any] = {
        "model_version": model_version,
        "score": float(score),
        "result": choice_result(config, label),
    }
    if task_id is not None:
        payload["task"] = task_id
    errors = config.interface().validate_prediction(payload, return_errors=True)
    if errors:
        raise PredictionError(
            f"{where}: Label Studio would reject the prediction: {'; '.join(errors)}"
        )
    return payload


def build_predictions(
    task_ids: Mapping[str, int],
    predictions: Iterable[ItemPrediction],
    model_version: str,
    config: ClassificationConfig,
) -> list[dict[str, Any]]:
    """Make the prediction dicts for many items.

    Args:
        task_ids: item_id -> Label Studio task id.
        predictions: class probabilities per item.
        model_version: the model version.
        config: the project's config.

    Returns:
        One prediction dict per item, in order.

    Raises:
        PredictionError: an item has no task, or a prediction does not fit the config.
    """
    payloads: list[dict[str, Any]] = []
    for prediction in predictions:
        task_id = task_ids.get(prediction.item_id)
        if task_id is None:
            raise PredictionError(
                f"item {prediction.item_id}: no Label Studio task to attach the prediction to"
            )
        payloads.append(build_prediction(task_id, prediction, model_version, config))
    return payloads


def inline_predictions(
    tasks: Sequence[Mapping[str, Any]],
    predictions: Mapping[str, ItemPrediction],
    model_version: str,
    config: ClassificationConfig,
) -> list[dict[str, Any]]:
    """Task payloads with the model's prediction inline (one import call, no task ids needed).

    Args:
        tasks: ``build_tasks`` output.
        predictions: item_id -> class probabilities; tasks without one go as they are.
        model_version: the model version shown to annotators.
        config: the project's config.

    Returns:
        New payloads; each predicted one carries ``predictions: [<one prediction>]``.

    Raises:
        PredictionError: a prediction does not fit the config (names the item).
    """
    payloads: list[dict[str, Any]] = []
    for task in tasks:
        guess = predictions.get(str(task["data"]["item_id"]))
        payload = dict(task)
        if guess is not None:
            payload["predictions"] = [build_prediction(None, guess, model_version, config)]
        payloads.append(payload)
    return payloads
