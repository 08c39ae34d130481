from __future__ import annotations

import datetime as dt
import json

import pytest

from annotation.errors import LabelStudioDataError
from annotation.labels import resolve_labels
from annotation.models import parse_task
from annotation.sync import (
    ChangeCursor,
    advance_watermark,
    count_labels_gained,
    format_filter_datetime,
    item_ids_query,
    labels_ready,
    merge_labels,
    next_cursor,
    read_changed_tasks,
    updated_since_query,
    withdraw_deleted_tasks,
)


def _pairs(labels) -> dict[str, str]:
    return {label.item_id: label.label for label in labels}


def test_a_delta_merge_equals_a_full_resync(snapshot_1, snapshot_2, delta_2, text_config) -> None:
    first = merge_labels([], resolve_labels(snapshot_1, text_config))
    merged = merge_labels(first.labels, resolve_labels(delta_2, text_config))
    full = merge_labels([], resolve_labels(snapshot_2, text_config))
    assert merged.labels == full.labels
    assert (merged.added, merged.changed, merged.withdrawn) == (
        ("item-008",),
        ("item-005",),
        ("item-006",),
    )
    assert _pairs(merged.labels)["item-005"] == "neg"


def test_the_captured_delta_is_exactly_the_changed_tasks(load) -> None:
    delta = load("tasks_delta_2.json")
    watermark = dt.datetime.strptime(delta["watermark"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.UTC
    )
    assert sorted(t["data"]["item_id"] for t in delta["tasks"]) == [
        "item-005",
        "item-006",
        "item-008",
    ]
    snapshot = [parse_task(t) for t in load("tasks_snapshot_2.json")]
    assert sorted(t.item_id for t in snapshot if t.updated_at > watermark) == [
        "item-005",
        "item-006",
        "item-008",
    ]


def test_reading_the_same_delta_twice_changes_nothing(snapshot_2, delta_2, text_config) -> None:
    current = merge_labels([], resolve_labels(snapshot_2, text_config))
    again = merge_labels(current.labels, resolve_labels(delta_2, text_config))
    assert again.labels == current.labels and again.touched == 0


def test_an_item_that_becomes_a_tie_loses_its_label(text_config) -> None:
    def task(choices: list[str]) -> dict:
        return {
            "id": 1,
            "data": {"item_id": "x"},
            "annotations": [
                {
                    "id": i,
                    "completed_by": i,
                    "result": [
                        {
                            "from_name": "sentiment",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": [c]},
                        }
                    ],
                }
                for i, c in enumerate(choices)
            ],
        }

    before = merge_labels([], resolve_labels([parse_task(task(["pos"]))], text_config))
    after = merge_labels(
        before.labels, resolve_labels([parse_task(task(["pos", "neg"]))], text_config)
    )
    assert after.withdrawn == ("x",) and after.labels == ()


def test_deleted_tasks_withdraw_their_labels(snapshot_1, text_config) -> None:
    labels = merge_labels([], resolve_labels(snapshot_1, text_config)).labels
    gone = {label.task_id for label in labels if label.item_id == "item-000"}
    result = withdraw_deleted_tasks(labels, [t.id for t in snapshot_1 if t.id not in gone])
    assert result.withdrawn == ("item-000",)
    assert "item-000" not in _pairs(result.labels) and len(result.labels) == len(labels) - 1


def test_watermark_is_the_newest_task_and_never_moves_back(snapshot_1, delta_2) -> None:
    first = advance_watermark(None, snapshot_1)
    assert first == max(t.updated_at for t in snapshot_1)
    assert advance_watermark(first, []) == first
    assert advance_watermark(first, delta_2) == max(t.updated_at for t in delta_2) > first
    far_future = first + dt.timedelta(days=1)
    assert advance_watermark(far_future, delta_2) == far_future
    assert advance_watermark(None, []) is None


def test_a_naive_watermark_is_refused() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        format_filter_datetime(dt.datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("watermark", "overlap", "expected"),
    [
        (
            dt.datetime(2024, 5, 1, 12, 0, 30, 5, tzinfo=dt.UTC),
            dt.timedelta(seconds=30),
            "2024-05-01T12:00:00.000005Z",
        ),
        (
            dt.datetime(2024, 5, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            dt.timedelta(0),
            "2024-05-01T12:00:00.000000Z",
        ),
    ],
)
def test_updated_since_query_is_a_server_side_filter(watermark, overlap, expected) -> None:
    query = updated_since_query(watermark, overlap)
    (item,) = query["filters"]["items"]
    assert item == {
        "filter": "filter:tasks:updated_at",
        "operator": "greater",
        "type": "Datetime",
        "value": expected,
    }
    assert query["ordering"] == ["tasks:updated_at"]
    json.dumps(query)


def test_the_first_sync_reads_every_task_without_trusting_the_annotation_counter() -> None:
    query = updated_since_query(None)
    assert query["filters"]["items"] == []
    assert query["ordering"] == ["tasks:updated_at"]


def test_item_ids_query_lists_the_ids() -> None:
    (item,) = item_ids_query(["a", "b"])["filters"]["items"]
    assert (item["filter"], item["operator"], item["value"]) == (
        "filter:tasks:data.item_id",
        "in_list",
        ["a", "b"],
    )


def test_labels_gained_counts_new_and_relabelled_items(snapshot_2, text_config) -> None:
    labels = merge_labels([], resolve_labels(snapshot_2, text_config)).labels
    trained = {"item-000": "pos", "item-002": "neg", "item-005": "pos", "gone": "neu"}
    # item-003, item-008 are new; item-005 was relabelled pos -> neg
    assert count_labels_gained(labels, trained) == 3
    assert count_labels_gained(labels, {}) == len(labels)


@pytest.mark.parametrize(
    ("gained", "threshold", "ready"), [(0, 1, False), (4, 5, False), (5, 5, True), (9, 5, True)]
)
def test_labels_ready(gained: int, threshold: int, ready: bool) -> None:
    assert labels_ready(gained, threshold) is ready


def test_labels_ready_needs_a_positive_threshold() -> None:
    with pytest.raises(ValueError, match="threshold"):
        labels_ready(3, 0)


T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


class FakeLabelStudio:
    """Tasks in memory, filtered and ordered the way the Data Manager does it."""

    def __init__(self, stamps: list[dt.datetime], page_size: int) -> None:
        self.tasks = {i: stamp for i, stamp in enumerate(stamps, start=1)}
        self.page_size = page_size
        self.calls = 0
        self.on_call: dict[int, list[int]] = {}  # call number -> task ids to touch first

    def touch(self, task_id: int) -> None:
        self.tasks[task_id] = max(self.tasks.values()) + dt.timedelta(seconds=1)

    def fetch(self, query: dict, all_pages: bool) -> list:
        self.calls += 1
        assert self.calls < 100, "the read does not terminate"
        for task_id in self.on_call.get(self.calls, []):
            self.touch(task_id)
        rows = sorted(self.tasks.items(), key=lambda kv: (kv[1], kv[0]))
        for item in query["filters"]["items"]:
            if item["filter"] != "filter:tasks:updated_at":
                continue
            since = dt.datetime.strptime(item["value"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=dt.UTC
            )
            keep = {
                "greater": lambda s, since=since: s > since,
                "greater_or_equal": lambda s, since=since: s >= since,
                "equal": lambda s, since=since: s == since,
            }[item["operator"]]
            rows = [(i, s) for i, s in rows if keep(s)]
        if not all_pages:
            rows = rows[: self.page_size]
        return [
            parse_task({"id": i, "data": {"item_id": f"x{i}"}, "updated_at": s}) for i, s in rows
        ]


def _stamps(*groups: tuple[int, int]) -> list[dt.datetime]:
    """(count, seconds) groups -> timestamps, several tasks per second when count > 1."""
    return [T0 + dt.timedelta(seconds=sec) for count, sec in groups for _ in range(count)]


@pytest.mark.parametrize(
    ("stamps", "touched_on_call"),
    [
        (_stamps(*[(1, s) for s in range(25)]), {}),
        (_stamps(*[(1, s) for s in range(25)]), {2: [1, 5], 3: [12]}),
        (_stamps((25, 0)), {}),
        (_stamps((3, 0), (12, 1), (10, 2)), {2: [2]}),
        (_stamps((10, 0), (10, 1), (5, 2)), {}),
    ],
    ids=[
        "distinct",
        "annotators-keep-working",
        "one-bulk-stamp",
        "ties-at-boundary",
        "exact-pages",
    ],
)
def test_keyset_read_never_skips_a_task(stamps, touched_on_call) -> None:
    server = FakeLabelStudio(stamps, page_size=10)
    server.on_call = touched_on_call
    tasks = read_changed_tasks(server.fetch, T0 - dt.timedelta(seconds=1), dt.timedelta(0), 10)
    assert sorted(task.id for task in tasks) == sorted(server.tasks)
    assert {task.id: task.updated_at for task in tasks} == server.tasks  # latest versions


def test_page_numbers_would_have_skipped_a_task() -> None:
    """Why keyset pagination: the same interleaving read by page number loses a task."""
    server = FakeLabelStudio(_stamps(*[(1, s) for s in range(25)]), page_size=10)
    everything = server.fetch({"filters": {"items": []}}, True)
    server.touch(1)
    after = server.fetch({"filters": {"items": []}}, True)
    page_1, page_2 = everything[:10], after[10:20]
    read = {t.id for t in page_1} | {t.id for t in page_2}
    assert 11 not in read


def test_a_full_page_without_updated_at_is_refused() -> None:
    page = [parse_task({"id": i, "data": {"item_id": str(i)}}) for i in range(3)]
    with pytest.raises(LabelStudioDataError, match="updated_at"):
        next_cursor(ChangeCursor(since=T0), page, 3)
