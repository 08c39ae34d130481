from __future__ import annotations

import pandas as pd
import pytest

from annotation.config import parse_label_config
from annotation.errors import LabelConfigError
from annotation.labels import (
    ItemLabel,
    LabelPolicy,
    SkipReason,
    UnresolvedReason,
    resolve_labels,
)
from annotation.models import parse_task

ANN1, ANN2, ANN3 = 2, 3, 4  # user ids of the captured annotators


def _by_item(resolution):
    return {label.item_id: label for label in resolution.labels}


def test_captured_annotations_resolve_as_the_annotators_meant(snapshot_1, text_config) -> None:
    resolution = resolve_labels(snapshot_1, text_config)
    labels = _by_item(resolution)
    assert {item: label.label for item, label in labels.items()} == {
        "item-000": "pos",
        "item-002": "neg",
        "item-003": "neu",
        "item-005": "pos",
        "item-006": "neg",
    }
    assert labels["item-000"].agreement == 1.0 and labels["item-000"].annotators == (
        ANN1,
        ANN2,
        ANN3,
    )
    assert labels["item-002"].agreement == pytest.approx(2 / 3)
    assert labels["item-002"].votes == {"neg": 2, "pos": 1}
    assert labels["item-003"].annotators == (ANN2,)  # ann1 cancelled
    assert all(label.model_version == "sentiment-v1" for label in labels.values())
    assert len(resolution.seen_items) == 10


def test_a_tie_is_reported_not_guessed(snapshot_1, text_config) -> None:
    (tie,) = resolve_labels(snapshot_1, text_config).unresolved
    assert (tie.item_id, tie.reason, tie.votes) == (
        "item-001",
        UnresolvedReason.TIE,
        {"pos": 1, "neg": 1},
    )


def test_cancelled_and_empty_are_ignored_and_unknown_labels_are_recorded_skips(
    snapshot_1, text_config
) -> None:
    resolution = resolve_labels(snapshot_1, text_config)
    assert resolution.ignored == {"cancelled": 1, "empty": 1}
    (skip,) = resolution.skipped
    assert (skip.item_id, skip.reason, skip.annotator) == (
        "item-007",
        SkipReason.UNKNOWN_LABEL,
        ANN1,
    )
    assert "'angry'" in skip.detail
    assert not {"item-004", "item-007"} & set(_by_item(resolution))


@pytest.mark.parametrize(
    ("policy", "item", "reason"),
    [
        (LabelPolicy(min_agreement=0.7), "item-002", UnresolvedReason.LOW_AGREEMENT),
        (LabelPolicy(min_annotators=2), "item-003", UnresolvedReason.TOO_FEW_ANNOTATORS),
        (LabelPolicy(min_annotators=3), "item-002", None),
    ],
)
def test_policy_thresholds(snapshot_1, text_config, policy, item, reason) -> None:
    resolution = resolve_labels(snapshot_1, text_config, policy)
    unresolved = {u.item_id: u.reason for u in resolution.unresolved}
    if reason is None:
        assert item in _by_item(resolution)
    else:
        assert unresolved[item] == reason
        assert item not in _by_item(resolution)


def _task(annotations: list[dict], data: dict | None = None) -> dict:
    return {
        "id": 9,
        "data": data if data is not None else {"item_id": "x", "text": "t"},
        "annotations": annotations,
    }


def _ann(ann_id: int, user: int | None, choices: list[str], updated: str, **extra) -> dict:
    result = [
        {
            "from_name": "sentiment",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": choices},
        }
    ]
    return {
        "id": ann_id,
        "completed_by": user,
        "result": result,
        "created_at": updated,
        "updated_at": updated,
        **extra,
    }


def test_one_person_one_vote_their_newest(text_config) -> None:
    task = parse_task(
        _task(
            [
                _ann(1, 7, ["pos"], "2024-01-01T00:00:02Z"),
                _ann(2, 7, ["neg"], "2024-01-01T00:00:05Z"),
                _ann(3, 8, ["pos"], "2024-01-01T00:00:03Z"),
            ]
        )
    )
    resolution = resolve_labels([task], text_config)
    assert resolution.unresolved[0].votes == {"neg": 1, "pos": 1}
    assert resolution.ignored == {"superseded": 1}


def test_several_choices_and_missing_item_id_are_skips(text_config) -> None:
    several = parse_task(_task([_ann(1, 7, ["pos", "neg"], "2024-01-01T00:00:00Z")]))
    foreign = parse_task(_task([_ann(2, 7, ["pos"], "2024-01-01T00:00:00Z")], data={"text": "ui"}))
    resolution = resolve_labels([several, foreign], text_config)
    assert [s.reason for s in resolution.skipped] == [
        SkipReason.SEVERAL_CHOICES,
        SkipReason.NO_ITEM_ID,
    ]
    assert resolution.labels == () and resolution.seen_items == ("x",)


def test_annotation_times_are_the_lineage(text_config) -> None:
    task = parse_task(
        _task(
            [
                _ann(1, 7, ["pos"], "2024-01-01T00:00:02Z"),
                _ann(3, 8, ["pos"], "2024-01-03T00:00:00Z"),
            ]
        )
    )
    (label,) = resolve_labels([task], text_config).labels
    assert label.first_annotated_at.isoformat() == "2024-01-01T00:00:02+00:00"
    assert label.last_annotated_at.isoformat() == "2024-01-03T00:00:00+00:00"
    assert label.annotation_ids == (1, 3) and label.model_version is None


def test_multi_choice_configs_are_refused(text_config) -> None:
    multiple = parse_label_config(text_config.xml.replace('choice="single"', 'choice="multiple"'))
    with pytest.raises(LabelConfigError, match="multi-label"):
        resolve_labels([], multiple)


def test_labels_survive_a_parquet_round_trip(snapshot_1, text_config, tmp_path) -> None:
    labels = resolve_labels(snapshot_1, text_config).labels
    path = tmp_path / "labels.parquet"
    pd.DataFrame([label.to_record() for label in labels]).to_parquet(path)
    back = [ItemLabel.from_record(record) for record in pd.read_parquet(path).to_dict("records")]
    assert back == list(labels)


def test_counts_add_up_for_a_report(snapshot_1, text_config) -> None:
    counts = resolve_labels(snapshot_1, text_config).counts()
    assert counts == {
        "items": 10,
        "labelled": 5,
        "unresolved": 1,
        "unresolved_tie": 1,
        "skipped": 1,
        "skipped_unknown_label": 1,
        "ignored_cancelled": 1,
        "ignored_empty": 1,
    }
