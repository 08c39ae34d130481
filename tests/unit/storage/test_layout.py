"""The store keys are a public interface: data already stored lives under them.

A failure here means a key moved. Move one only with a migration and a note in docs/concepts.md.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from storage import layout
from storage.layout import RegistryError

VERSION = "20240101T120000123456Z-ab12cd"

PINNED: list[tuple[Callable[..., str], tuple[str, ...], str]] = [
    (layout.raw_prefix, ("digits",), "raw/digits/"),
    (layout.raw_key, ("digits", "b1"), "raw/digits/b1.parquet"),
    (layout.raw_files_prefix, ("digits",), "raw/digits/files"),
    (layout.raw_file_key, ("digits", "ab12", ".png"), "raw/digits/files/ab12.png"),
    (layout.cleanse_output_prefix, ("quarantine", "iris"), "quarantine/iris/"),
    (layout.cleanse_output_key, ("clean", "iris", "b1"), "clean/iris/b1.parquet"),
    (layout.cleanse_output_key, ("quarantine", "iris", "b1"), "quarantine/iris/b1.parquet"),
    (layout.cleanse_output_key, ("duplicates", "iris", "b1"), "duplicates/iris/b1.parquet"),
    (layout.clean_prefix, ("iris",), "clean/iris/"),
    (layout.labels_key, ("digits", "v1"), "labels/digits/v1.parquet"),
    (layout.labels_prefix, ("digits",), "labels/digits/"),
    (layout.latest_labels_key, ("digits",), "labels/digits/latest.json"),
    (layout.disputed_labels_key, ("digits", "v1"), "labels/digits/disputed/v1.parquet"),
    (layout.model_prefix, ("digits",), "models/digits/"),
    (layout.model_key, ("digits", VERSION), f"models/digits/{VERSION}/model.skops"),
    (layout.card_key, ("digits", VERSION), f"models/digits/{VERSION}/card.json"),
    (layout.items_key, ("digits", VERSION), f"models/digits/{VERSION}/items.json"),
    (layout.profile_key, ("digits", VERSION), f"models/digits/{VERSION}/reference_profile.json"),
    (layout.out_of_fold_key, ("digits", VERSION), f"models/digits/{VERSION}/out_of_fold.parquet"),
    (layout.champion_key, ("digits",), "models/digits/champion.json"),
    (layout.live_accuracy_key, ("digits",), "models/digits/monitoring/live_accuracy.json"),
    (layout.drift_report_key, ("digits", "b1"), "monitoring/drift/digits/b1.json"),
    (layout.collect_manifest_key, ("iris",), "state/collect/iris/manifest.json"),
    (layout.cleanse_manifest_key, ("iris",), "state/cleanse/iris/manifest.json"),
    (layout.push_ledger_key, ("digits",), "state/push/digits.json"),
    (layout.sync_state_key, ("digits",), "state/sync/digits.json"),
    (layout.trained_labels_key, ("digits",), "state/train/digits.json"),
    (layout.review_ledger_key, ("digits",), "state/review/digits.json"),
    (layout.degraded_log_key, ("digits",), "state/monitor/digits.json"),
]


@pytest.mark.parametrize(
    ("function", "args", "expected"),
    PINNED,
    ids=[f"{f.__name__}{args}" for f, args, _ in PINNED],
)
def test_every_key_is_where_it_always_was(
    function: Callable[..., str], args: tuple[str, ...], expected: str
) -> None:
    assert function(*args) == expected


def test_every_key_function_is_pinned() -> None:
    pinned = {function.__name__ for function, _, _ in PINNED}
    key_functions = {
        name
        for name in dir(layout)
        if name.endswith(("_key", "_prefix")) and callable(getattr(layout, name))
    } - {
        "raw_batch_of_key",
        "version_of_card_key",
        "version_of_labels_key",  # tested with the annotator trend
    }  # they read keys (tested below)
    assert key_functions == pinned


@pytest.mark.parametrize("bad", ["", "Digits", "../digits", "digits/x", "-digits", "a_b"])
@pytest.mark.parametrize(
    "function",
    [
        layout.model_prefix,
        layout.champion_key,
        layout.live_accuracy_key,
        lambda name: layout.card_key(name, VERSION),
        lambda name: layout.profile_key(name, VERSION),
    ],
)
def test_a_model_name_that_is_not_one_folder_never_becomes_a_key(
    function: Callable[[str], str], bad: str
) -> None:
    with pytest.raises(RegistryError, match="invalid model name"):
        function(bad)


@pytest.mark.parametrize("bad", ["latest", "../champion", f"{VERSION}/x", VERSION[:-1]])
@pytest.mark.parametrize(
    "function", [layout.model_key, layout.card_key, layout.items_key, layout.profile_key]
)
def test_a_version_that_is_not_an_id_never_becomes_a_key(
    function: Callable[[str, str], str], bad: str
) -> None:
    with pytest.raises(RegistryError, match="invalid model version"):
        function("digits", bad)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("raw/d/b1.parquet", "b1"),
        ("raw/d/files/x.png", None),
        ("raw/e/b1.parquet", None),
        ("raw/d/b1.json", None),
    ],
)
def test_raw_batches_are_told_from_files(key: str, expected: str | None) -> None:
    assert layout.raw_batch_of_key("d", key) == expected


def test_card_keys_are_recognised() -> None:
    assert layout.version_of_card_key("digits", layout.card_key("digits", VERSION)) == VERSION
    assert layout.version_of_card_key("digits", layout.model_key("digits", VERSION)) is None
    assert layout.version_of_card_key("digits", "models/digits/champion.json") is None
    assert layout.version_of_card_key("digits", f"models/other/{VERSION}/card.json") is None
    assert layout.version_of_card_key("digits", "models/digits/v1/card.json") is None
