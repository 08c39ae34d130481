"""The labels pointer and the trained-labels record read the JSON already on disk."""

from __future__ import annotations

import json

import pytest

from storage.pointers import LabelsPointer, PointerError, TrainedLabels, parse_labels_document

KEY = "labels/digits/20261122T065900123456Z-1a2b3c.parquet"


@pytest.mark.parametrize(
    ("document", "unresolved"),
    [
        ({"version": "v1", "key": KEY, "labels": 80}, 0),  # as the train tests wrote it
        ({"version": "v1", "key": KEY, "labels": 80, "unresolved": 3}, 3),  # as the sync does
    ],
)
def test_labels_pointers_on_disk_are_read(document: dict[str, object], unresolved: int) -> None:
    pointer = parse_labels_document(LabelsPointer, json.dumps(document).encode(), "latest.json")
    assert (pointer.version, pointer.key, pointer.labels) == ("v1", KEY, 80)
    assert pointer.unresolved == unresolved


def test_a_pointer_written_is_the_document_read() -> None:
    pointer = LabelsPointer(version="v1", key=KEY, labels=80, unresolved=2)
    document = json.dumps(pointer.model_dump(mode="json")).encode()
    assert json.loads(document) == {"version": "v1", "key": KEY, "labels": 80, "unresolved": 2}
    assert parse_labels_document(LabelsPointer, document, "latest.json") == pointer


def test_a_trained_record_written_before_it_named_its_model_is_read() -> None:
    record = parse_labels_document(
        TrainedLabels, json.dumps({"labels_key": KEY}).encode(), "state/train/digits.json"
    )
    assert (record.version, record.model) == ("20261122T065900123456Z-1a2b3c", None)


@pytest.mark.parametrize(
    ("kind", "document"),
    [
        (LabelsPointer, b"{not json"),
        (LabelsPointer, b'{"version": "v1", "labels": 3}'),
        (LabelsPointer, b'{"version": "v1", "key": "k", "labels": -1}'),
        (TrainedLabels, b'{"model": "digits"}'),
    ],
)
def test_a_broken_document_names_its_key(
    kind: type[LabelsPointer] | type[TrainedLabels], document: bytes
) -> None:
    with pytest.raises(PointerError, match="labels/digits/latest.json"):
        parse_labels_document(kind, document, "labels/digits/latest.json")
