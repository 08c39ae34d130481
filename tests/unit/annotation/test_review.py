"""What a review request changes on a Label Studio task, and the Data Manager tab."""

from __future__ import annotations

import pytest

from annotation.review import DISPUTE_META_KEY, REVIEW_VIEW_TITLE, review_update, review_view_data

NOTE = {"labels_version": "v1", "label": "1", "model_label": "7", "model_probability": 0.97}


@pytest.mark.parametrize(
    ("overlap", "voters", "extra", "expected"),
    [
        (1, 1, 1, 2),  # one person labelled it: ask one more
        (None, 1, 1, 2),  # Label Studio's default overlap
        (3, 3, 1, 4),  # a project with three per task: a fourth
        (3, 2, 2, 5),  # someone skipped: two more on top of the overlap
        (1, 2, 1, 3),  # more voters than the overlap (annotated from the Data Manager)
    ],
)
def test_review_asks_for_more_people(
    overlap: int | None, voters: int, extra: int, expected: int
) -> None:
    update = review_update(7, overlap, {"source": "import"}, voters, extra, NOTE)
    assert update is not None
    assert (update.task_id, update.overlap, update.is_labeled) == (7, expected, False)
    assert update.meta == {"source": "import", DISPUTE_META_KEY: NOTE}


def test_a_retried_request_does_not_raise_the_overlap_twice() -> None:
    first = review_update(7, 1, None, 1, 1, NOTE)
    assert first is not None
    assert review_update(7, first.overlap, first.meta, 1, 1, NOTE) is None
    newer = review_update(7, first.overlap, first.meta, 1, 1, {**NOTE, "labels_version": "v2"})
    assert newer is not None and newer.overlap == 3


def test_review_rejects_no_extra_annotator() -> None:
    with pytest.raises(ValueError, match="extra_annotators"):
        review_update(7, 1, None, 1, 0, NOTE)


def test_review_view_filters_on_the_disputed_annotations() -> None:
    data = review_view_data([12, 3, 12, 40])
    assert data["title"] == REVIEW_VIEW_TITLE
    (item,) = data["filters"]["items"]
    # "contains" on a String column: what the Data Manager UI can show ("in_list" breaks it).
    assert (item["filter"], item["operator"], item["type"], item["value"]) == (
        "filter:tasks:annotations_ids",
        "contains",
        "String",
        "3,12,40",
    )
    assert review_view_data([])["filters"]["items"][0]["value"] == ""
