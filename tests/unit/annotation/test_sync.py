from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from annotation.errors import LabelStudioDataError
from annotation.labels import LabelPolicy, UnresolvedReason, resolve_labels
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
from annotation.versions import (
    LABEL_COLUMNS,
    VERSION_COLUMNS,
    apply_consensus,
    empty_labels_frame,
    label_pairs,
    labels_frame,
    resolved_labels,
    unresolved_items,
    with_consensus_columns,
)


def _stored(frame: pd.DataFrame, tmp_path) -> pd.DataFrame:
    """The frame as the next sync reads it back: through a parquet file."""
    path = tmp_path / f"v{len(list(tmp_path.iterdir()))}.parquet"
    frame.to_parquet(path, index=False)
    return pd.read_parquet(path)


def _first(tasks, config) -> pd.DataFrame:
    return merge_labels(empty_labels_frame(), resolve_labels(tasks, config)).frame


def test_a_delta_merge_equals_a_full_resync(
    snapshot_1, snapshot_2, delta_2, text_config, tmp_path
) -> None:
    first = _stored(_first(snapshot_1, text_config), tmp_path)
    merged = merge_labels(first, resolve_labels(delta_2, text_config))
    full = _first(snapshot_2, text_config)
    assert resolved_labels(merged.frame) == resolved_labels(full)
    assert unresolved_items(merged.frame) == unresolved_items(full)
    assert merged.frame["item_id"].tolist() == full["item_id"].tolist()
    assert (merged.added, merged.changed, merged.withdrawn) == (
        ("item-008",),
        ("item-005",),
        ("item-006",),
    )
    assert label_pairs(merged.frame)["item-005"] == "neg"
    # What the next sync reads back is the same version.
    assert resolved_labels(_stored(merged.frame, tmp_path)) == resolved_labels(full)


def test_rows_of_items_the_delta_did_not_see_stay_as_they_were(
    snapshot_1, text_config, tmp_path
) -> None:
    first = _stored(_first(snapshot_1, text_config), tmp_path)
    (tie,) = unresolved_items(first)
    assert tie.item_id == "item-001" and tie.reason is UnresolvedReason.TIE
    seen = [task for task in snapshot_1 if task.item_id == "item-000"]
    merged = merge_labels(first, resolve_labels(seen, text_config))
    assert merged.touched == 0
    assert resolved_labels(merged.frame) == resolved_labels(first)
    assert unresolved_items(merged.frame) == [tie]  # carried, not lost


def test_an_unresolved_item_that_gets_a_label_is_no_longer_unresolved(
    snapshot_1, text_config
) -> None:
    first = _first(snapshot_1, text_config)
    (tied,) = [task for task in snapshot_1 if task.item_id == "item-001"]
    decided = tied.model_copy(update={"annotations": tied.annotations[:1]})
    merged = merge_labels(first, resolve_labels([decided], text_config))
    assert merged.added == ("item-001",) and unresolved_items(merged.frame) == []
    assert merged.labelled == len(resolved_labels(first)) + 1


def test_one_item_read_from_two_tasks_gets_one_row(snapshot_1, text_config) -> None:
    (task,) = [task for task in snapshot_1 if task.item_id == "item-000"]
    twin = task.model_copy(update={"id": task.id + 1000})
    merged = merge_labels(empty_labels_frame(), resolve_labels([task, twin], text_config))
    assert merged.frame["item_id"].tolist() == ["item-000"] and merged.added == ("item-000",)


def test_a_previous_version_with_an_item_twice_is_refused(snapshot_1, text_config) -> None:
    labels = resolve_labels(snapshot_1, text_config).labels
    doubled = labels_frame([*labels, labels[0]], [])
    with pytest.raises(ValueError, match=labels[0].item_id):
        merge_labels(doubled, resolve_labels([], text_config))


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


def test_reading_the_same_delta_twice_changes_nothing(
    snapshot_2, delta_2, text_config, tmp_path
) -> None:
    current = _stored(_first(snapshot_2, text_config), tmp_path)
    again = merge_labels(current, resolve_labels(delta_2, text_config))
    assert again.touched == 0
    assert resolved_labels(again.frame) == resolved_labels(current)
    assert unresolved_items(again.frame) == unresolved_items(current)


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

    before = _first([parse_task(task(["pos"]))], text_config)
    after = merge_labels(before, resolve_labels([parse_task(task(["pos", "neg"]))], text_config))
    assert after.withdrawn == ("x",) and after.labelled == 0
    assert [(item.item_id, item.reason) for item in unresolved_items(after.frame)] == [
        ("x", UnresolvedReason.TIE)
    ]


def test_deleted_tasks_withdraw_their_labels(snapshot_1, text_config, tmp_path) -> None:
    frame = _stored(_first(snapshot_1, text_config), tmp_path)
    labels = resolved_labels(frame)
    gone = {label.task_id for label in labels if label.item_id == "item-000"}
    result = withdraw_deleted_tasks(frame, [t.id for t in snapshot_1 if t.id not in gone])
    assert result.withdrawn == ("item-000",)
    pairs = label_pairs(result.frame)
    assert "item-000" not in pairs and len(pairs) == len(labels) - 1
    assert unresolved_items(result.frame) == unresolved_items(frame)


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
    frame = _first(snapshot_2, text_config)
    trained = {"item-000": "pos", "item-002": "neg", "item-005": "pos", "gone": "neu"}
    # item-003, item-008 are new; item-005 was relabelled pos -> neg
    assert count_labels_gained(frame, trained) == 3
    assert count_labels_gained(frame, {}) == len(resolved_labels(frame))


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


def _team_task(task_id: int, item: str, choices: dict[int, str]) -> dict:
    return {
        "id": task_id,
        "data": {"item_id": item},
        "annotations": [
            {
                "id": task_id * 100 + user,
                "completed_by": user,
                "result": [
                    {
                        "from_name": "sentiment",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": [label]},
                    }
                ],
            }
            for user, label in choices.items()
        ],
    }


def _team_tasks() -> list:
    """User 1 always says what user 2 says on shared items; user 3 always disagrees.
    Item t0 is a 1-1 tie of user 1 against user 3."""
    tasks = [_team_task(1, "t0", {1: "pos", 3: "neg"})]
    for i in range(1, 13):
        label = "pos" if i % 2 else "neg"
        other = "neg" if label == "pos" else "pos"
        tasks.append(_team_task(i + 1, f"i{i:02d}", {1: label, 2: label, 3: other}))
    return [parse_task(task) for task in tasks]


def _champion(frame: pd.DataFrame) -> pd.DataFrame:
    """A champion that agrees with users 1 and 2, out of sample, 70% sure."""
    rows = {}
    for item_id, annotators, labels in zip(
        frame["item_id"], frame["vote_annotators"], frame["vote_labels"], strict=True
    ):
        label = dict(zip(annotators, labels, strict=True))["1"]
        rows[item_id] = {"pos": 0.7 if label == "pos" else 0.3, "neg": 0.3 if label == "pos" else 0.7}
    return pd.DataFrame.from_dict(rows, orient="index")


def test_consensus_labels_a_tie_the_majority_leaves_open_and_records_both(
    text_config, tmp_path
) -> None:
    frame = _stored(_first(_team_tasks(), text_config), tmp_path)
    assert frame.set_index("item_id").loc["t0", "status"] == "unresolved"
    decided, consensus = apply_consensus(
        frame, text_config.labels, _champion(frame), LabelPolicy()
    )
    row = _stored(decided, tmp_path).set_index("item_id").loc["t0"]
    assert (row["label"], row["status"], row["method"]) == ("pos", "resolved", "crowdlab")
    assert pd.isna(row["majority_label"]) and row["consensus_label"] == "pos"
    assert 0.5 <= row["consensus_quality"] <= 1
    assert [q.annotator for q in consensus.annotators][-1] == "3"
    assert resolved_labels(decided)[-1].annotator_votes == {"1": "pos", "3": "neg"}


def test_without_a_champion_the_consensus_is_the_majority(text_config, tmp_path) -> None:
    frame = _stored(_first(_team_tasks(), text_config), tmp_path)
    decided, consensus = apply_consensus(frame, text_config.labels, None, LabelPolicy())
    assert label_pairs(decided) == label_pairs(frame)
    assert set(decided["method"]) == {"majority"}
    assert consensus.annotators[-1].annotator == "3"


def test_a_version_written_before_the_consensus_columns_still_reads_and_merges(
    snapshot_1, delta_2, text_config, tmp_path
) -> None:
    old = _first(snapshot_1, text_config)[LABEL_COLUMNS]
    stored = _stored(old, tmp_path)
    upgraded = with_consensus_columns(stored)
    assert list(upgraded.columns) == VERSION_COLUMNS
    assert label_pairs(upgraded) == label_pairs(stored)
    pd.testing.assert_series_equal(
        upgraded["consensus_label"], upgraded["label"], check_names=False
    )
    assert set(upgraded["method"]) == {"majority"}
    merged = merge_labels(stored, resolve_labels(delta_2, text_config))
    decided, _ = apply_consensus(merged.frame, text_config.labels, None, LabelPolicy())
    # Rows without recorded voters keep their label; re-read rows are decided again.
    assert label_pairs(decided) == label_pairs(merged.frame)
    assert resolved_labels(_stored(decided, tmp_path)) == resolved_labels(merged.frame)
