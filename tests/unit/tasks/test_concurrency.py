"""The names of the per data set concurrency limits."""

from __future__ import annotations

from typing import get_args

from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from tasks.concurrency import Stage, slot_name


def test_every_stage_of_every_data_set_has_a_limit_of_its_own() -> None:
    datasets = ("digits", "digits-2", "iris")
    names = [slot_name(stage, d) for stage in get_args(Stage) for d in datasets]

    assert len(set(names)) == len(names)
    assert slot_name("cleanse", "digits") == "labelloop-cleanse-digits"


def test_the_longest_data_set_name_makes_a_limit_name_prefect_accepts() -> None:
    longest = "a" + "-" * 58 + "z"  # specs.NAME_PATTERN allows 60 characters
    for stage in get_args(Stage):
        assert GlobalConcurrencyLimitCreate(name=slot_name(stage, longest), limit=1).name
