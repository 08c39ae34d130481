"""When the sync announces labels.ready: once per untrained batch of labels, again if lost."""

from __future__ import annotations

import datetime as dt

import pytest

from annotation.versions import should_announce

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
TEN_MINUTES = dt.timedelta(minutes=10)
V1, V2, V3 = (
    "20261122T100000000000Z-aaaaaa",
    "20261122T110000000000Z-bbbbbb",
    "20261122T113000000000Z-cccccc",
)


def announce(
    gained: int,
    version: str | None,
    announced: str | None,
    trained: str | None,
    age: dt.timedelta | None = dt.timedelta(0),
) -> bool:
    announced_at = None if age is None else NOW - age
    return should_announce(gained, 20, version, announced, trained, announced_at, NOW, TEN_MINUTES)


@pytest.mark.parametrize(
    ("gained", "version", "announced", "trained", "expected"),
    [
        (25, V1, None, None, True),  # the first version with enough labels
        (19, V1, None, None, False),  # not enough yet
        (25, None, None, None, False),  # no labels version at all
        (25, V3, V1, V1, True),  # V1 was trained on; enough labels came since
        (25, V1, V1, None, False),  # announced just now, its retrain has not recorded yet
    ],
)
def test_enough_new_labels_announce_the_current_version(
    gained: int, version: str | None, announced: str | None, trained: str | None, expected: bool
) -> None:
    assert announce(gained, version, announced, trained) is expected


def test_versions_written_while_a_retrain_is_outstanding_queue_no_second_retrain() -> None:
    # A busy annotator: V2 and V3 are written while the retrain for V1 still runs.
    assert not announce(25, V2, V1, None, age=dt.timedelta(minutes=1))
    assert not announce(30, V3, V1, None, age=dt.timedelta(minutes=2))
    # Once it records V1, the labels gained since count afresh.
    assert not announce(10, V3, V1, V1)


def test_an_announcement_no_training_took_is_repeated_after_the_delay() -> None:
    assert announce(25, V3, V1, None, age=dt.timedelta(minutes=11))
    assert not announce(25, V3, V1, None, age=dt.timedelta(minutes=9))
    # The retrain of an older version finished, the newest announcement was lost.
    assert announce(25, V3, V2, V1, age=dt.timedelta(minutes=11))


def test_without_a_repeat_delay_an_outstanding_announcement_is_never_repeated() -> None:
    assert not should_announce(25, 20, V3, V1, None, NOW - dt.timedelta(days=1), NOW, None)


def test_an_announcement_of_unknown_age_counts_as_old() -> None:
    # State written before announcements were timed.
    assert announce(25, V1, V1, None, age=None)
