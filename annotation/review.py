"""A disputed label back in Label Studio: one more annotator, a note, a Data Manager tab (pure).

Label Studio (open source) serves a task in its label stream while fewer distinct
people annotated it than its ``overlap``. Raising a task's overlap by one puts it back
in the queue of everyone who has not annotated it yet, which is "a second look by
someone else". Label Studio does not recompute ``is_labeled`` when the overlap
changes, so the update sets it too. The reason travels in the task's ``meta`` (no
prediction is added for the review: the disputing model's answer is not pre-filled), and the
``labelloop: disputed labels`` tab of the Data Manager lists the tasks waiting.

The tab filters on "Annotation IDs contains" (the annotations that voted when the item
was disputed), a filter the Data Manager UI can show. Not on ``data.item_id`` with the
``in_list`` operator: the API accepts it, but the Data Manager UI of Label Studio 1.23
fails on it and then shows no tab of the project at all (seen in a headless Chromium).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

DISPUTE_META_KEY = "labelloop_dispute"
REVIEW_VIEW_TITLE = "labelloop: disputed labels"


class TaskReviewUpdate(BaseModel):
    """The fields a review request changes on one task."""

    model_config = ConfigDict(frozen=True)

    task_id: int
    overlap: int
    is_labeled: bool = False
    meta: dict[str, Any]


def review_update(
    task_id: int,
    current_overlap: int | None,
    current_meta: Mapping[str, Any] | None,
    voters: int,
    extra_annotators: int,
    note: Mapping[str, Any],
) -> TaskReviewUpdate | None:
    """How to ask for `extra_annotators` more people on a task; None if already asked.

    Args:
        task_id: The task.
        current_overlap: Its overlap now (None: Label Studio's default, 1).
        current_meta: Its meta now.
        voters: People who voted on it.
        extra_annotators: How many more people should annotate it.
        note: Why (the dispute), kept under ``meta["labelloop_dispute"]``.

    Returns:
        The update, or None when the task's meta already carries this very note (a
        retry after the update went through must not raise the overlap twice).
    """
    if extra_annotators < 1:
        raise ValueError(f"extra_annotators must be >= 1, got {extra_annotators}")
    meta = dict(current_meta or {})
    if meta.get(DISPUTE_META_KEY) == dict(note):
        return None
    overlap = max(current_overlap or 1, voters) + extra_annotators
    return TaskReviewUpdate(
        task_id=task_id, overlap=overlap, meta={**meta, DISPUTE_META_KEY: dict(note)}
    )


def review_view_data(
    annotation_ids: Sequence[int], title: str = REVIEW_VIEW_TITLE
) -> dict[str, Any]:
    """The ``data`` of the Data Manager tab listing the tasks that hold these annotations.

    Args:
        annotation_ids: The annotations that voted on the items waiting for review
            (none: the tab lists nothing).
        title: The tab's title.

    Returns:
        The view data: title and an "Annotation IDs contains 1,2,3" filter (Label
        Studio turns it into an in-list filter on the server).
    """
    return {
        "title": title,
        "filters": {
            "conjunction": "and",
            "items": [
                {
                    "filter": "filter:tasks:annotations_ids",
                    "operator": "contains",
                    "type": "String",
                    "value": ",".join(str(int(a)) for a in sorted(set(annotation_ids))),
                }
            ],
        },
    }
