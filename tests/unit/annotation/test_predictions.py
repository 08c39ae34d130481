from __future__ import annotations

import pytest

from annotation.config import parse_label_config
from annotation.errors import PredictionError
from annotation.models import parse_tasks
from annotation.predictions import (
    ItemPrediction,
    build_prediction,
    build_predictions,
    inline_predictions,
)


def test_prediction_is_the_most_probable_label_with_its_score(text_config) -> None:
    prediction = ItemPrediction(item_id="i", probabilities={"pos": 0.2, "neg": 0.7, "neu": 0.1})
    payload = build_prediction(5, prediction, "m-3", text_config)
    assert payload["task"] == 5 and payload["model_version"] == "m-3" and payload["score"] == 0.7
    assert payload["result"] == [
        {
            "from_name": "sentiment",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": ["neg"]},
        }
    ]


@pytest.mark.parametrize("name", ["tasks_image.json", "tasks_tabular.json"])
def test_built_predictions_match_what_label_studio_stored(load, name: str) -> None:
    raw = load(name)
    config = parse_label_config(raw["label_config"])
    for task in parse_tasks(raw["tasks"]):
        stored = task.predictions[0]
        probabilities = dict(zip(config.labels, (0.7, 0.2, 0.1), strict=True))
        built = build_prediction(
            task.id,
            ItemPrediction(item_id=task.item_id, probabilities=probabilities),
            stored.model_version or "",
            config,
        )
        assert built["result"] == [region.model_dump() for region in stored.result]
        assert built["score"] == stored.score


@pytest.mark.parametrize(
    ("probabilities", "version", "message"),
    [
        ({"pos": 0.5, "angry": 0.5}, "m", "labels \\['angry'\\] are not in the label config"),
        ({"pos": 1.5}, "m", "probabilities outside \\[0, 1\\]"),
        ({"pos": -0.1, "neg": 0.2}, "m", "probabilities outside"),
        ({"pos": 1.0}, "", "model_version is empty"),
    ],
)
def test_a_prediction_that_does_not_fit_names_the_item(
    text_config, probabilities, version, message
) -> None:
    with pytest.raises(PredictionError, match=f"item it-9 \\(task 3\\): {message}"):
        build_prediction(
            3, ItemPrediction(item_id="it-9", probabilities=probabilities), version, text_config
        )


def test_a_prediction_for_an_item_without_task_is_refused(text_config) -> None:
    predictions = [
        ItemPrediction(item_id="a", probabilities={"pos": 1.0}),
        ItemPrediction(item_id="b", probabilities={"neg": 1.0}),
    ]
    with pytest.raises(PredictionError, match="item b: no Label Studio task"):
        build_predictions({"a": 1}, predictions, "m", text_config)
    assert [
        p["task"] for p in build_predictions({"a": 1, "b": 2}, predictions, "m", text_config)
    ] == [1, 2]


def test_inline_predictions_ride_with_their_tasks(text_config) -> None:
    tasks = [
        {"data": {"text": "good", "item_id": "a"}},
        {"data": {"text": "meh", "item_id": "b"}},
    ]
    guesses = {"a": ItemPrediction(item_id="a", probabilities={"pos": 0.8, "neg": 0.2})}
    payloads = inline_predictions(tasks, guesses, "v3", text_config)
    assert "predictions" not in payloads[1] and "predictions" not in tasks[0]
    (prediction,) = payloads[0]["predictions"]
    assert "task" not in prediction
    assert prediction["model_version"] == "v3" and prediction["score"] == pytest.approx(0.8)
    assert prediction["result"][0]["value"]["choices"] == ["pos"]


def test_an_inline_prediction_that_does_not_fit_names_the_item(text_config) -> None:
    tasks = [{"data": {"text": "good", "item_id": "a"}}]
    guesses = {"a": ItemPrediction(item_id="a", probabilities={"maybe": 1.0})}
    with pytest.raises(PredictionError, match="item a: labels \\['maybe'\\]"):
        inline_predictions(tasks, guesses, "v3", text_config)
