"""When the sync announces labels.ready: once per labels version, again if nobody trained on it."""

from __future__ import annotations

import datetime as dt

import pytest

from annotation.versions import should_announce

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
TEN_MINUTES = dt.timedelta(minutes=10)


@pytest.mark.parametrize(
    ("gained", "version", "announced", "expected"),
    [
        (25, "v2", "v1", True),  # a new version with enough new labels
        (19, "v2", "v1", False),  # not enough yet
        (25, None, None, False),  # no labels version at all
        (25, "v2", "v2", False),  # announced already, just now
    ],
)
def test_once_per_labels_version(gained: int, version: str | None, announced: str | None, expected: bool) -> None:
    assert should_announce(gained, 20, version, announced, NOW, NOW, TEN_MINUTES) is expected


def test_a_version_nobody_trained_on_is_announced_again_after_the_repeat_delay() -> None:
    announced_at = NOW - dt.timedelta(minutes=11)
    assert should_announce(25, 20, "v2", "v2", announced_at, NOW, TEN_MINUTES)
    assert not should_announce(25, 20, "v2", "v2", NOW - dt.timedelta(minutes=9), NOW, TEN_MINUTES)


def test_a_trained_version_is_never_announced_again() -> None:
    # A training run on v2 recorded its labels: nothing is gained any more.
    assert not should_announce(0, 20, "v2", "v2", NOW - dt.timedelta(days=1), NOW, TEN_MINUTES)


def test_without_a_repeat_delay_a_version_is_announced_once() -> None:
    assert not should_announce(25, 20, "v2", "v2", NOW - dt.timedelta(days=1), NOW, None)


def test_an_announcement_of_unknown_age_counts_as_old() -> None:
    # State written before announcements were timed.
    assert should_announce(25, 20, "v2", "v2", None, NOW, TEN_MINUTES)
