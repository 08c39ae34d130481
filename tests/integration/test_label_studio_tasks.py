"""The Label Studio tasks against the local stack's real Label Studio and Prefect."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from label_studio_sdk import LabelStudio
from prefect import flow

from annotation import (
    DataKind,
    ItemPrediction,
    ItemValue,
    LabelSpec,
    PushLedger,
    advance_watermark,
    build_label_config,
    build_predictions,
    build_tasks,
    choice_result,
    chunked,
    items_to_verify,
    plan_push,
    resolve_labels,
)
from tasks.label_studio import (
    delete_predictions,
    ensure_project,
    ensure_webhook,
    fetch_changed_tasks,
    find_tasks_by_item_id,
    import_predictions,
    import_tasks,
    list_task_ids,
)
from tasks.media import ensure_image_storage
from tasks.refresh import list_unlabelled_tasks
from tests.conftest import Stack

pytestmark = pytest.mark.integration
NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
IMAGES = LabelSpec(kind=DataKind.IMAGE, labels=["0", "1"])


@pytest.fixture
def title(ls: LabelStudio, unique: str) -> Iterator[str]:
    name = f"tasks-{unique}"
    yield name
    for project in ls.projects.list(title=name):
        if project.title == name:
            ls.projects.delete(id=project.id)


def _push(
    client: LabelStudio, project_id: int, config, items, ledger: PushLedger, crash_after: int | None
):
    """The push protocol; ``crash_after`` chunks are imported, the next crashes after its import call."""
    found = find_tasks_by_item_id(
        client, project_id, items_to_verify([i.item_id for i in items], ledger)
    )
    plan = plan_push([i.item_id for i in items], ledger, found)
    ledger = ledger.with_imported(plan.recovered, "run", NOW)
    by_id = {item.item_id: item for item in items}
    for n, chunk in enumerate(chunked(list(plan.to_import), 10)):
        ledger = ledger.with_pending(chunk, "run", NOW)
        task_ids = import_tasks(client, project_id, build_tasks([by_id[i] for i in chunk], config))
        if crash_after is not None and n == crash_after:
            return ledger  # crashed: the import happened, the ledger still says pending
        ledger = ledger.with_imported(dict(zip(chunk, task_ids, strict=True)), "run", NOW)
    return ledger


def test_project_push_predictions_sync_and_webhook(
    prefect_server: str, ls: LabelStudio, title: str
) -> None:
    client = ls

    @flow
    def scenario() -> None:
        config = build_label_config(LabelSpec(kind=DataKind.TEXT, labels=["pos", "neg"]))
        first = ensure_project(client, title, config)
        again = ensure_project(client, title, config)
        assert first.created and not again.created and again.id == first.id
        grown = ensure_project(
            client,
            title,
            build_label_config(LabelSpec(kind=DataKind.TEXT, labels=["pos", "neg", "neu"])),
        )
        assert grown.id == first.id and grown.update is not None and grown.update.added == ("neu",)
        config = grown.config

        items = [ItemValue(item_id=f"i-{n:03d}", value=f"text {n}") for n in range(30)]
        ledger = _push(
            client, first.id, config, items, PushLedger(project_id=first.id), crash_after=1
        )
        assert len(ledger.pending()) == 10
        ledger = _push(client, first.id, config, items + items[:5], ledger, crash_after=None)
        assert len(list_task_ids(client, first.id)) == 30
        assert ledger.pending() == [] and len(ledger.imported()) == 30

        task_ids = ledger.imported()
        predictions = [
            ItemPrediction(item_id=i.item_id, probabilities={"pos": 0.8, "neg": 0.2}) for i in items
        ]
        assert (
            import_predictions(
                client, first.id, build_predictions(task_ids, predictions, "m-1", config)
            )
            == 30
        )
        delete_predictions(client, first.id, list(task_ids.values())[:10])
        assert len(client.predictions.list(project=first.id)) == 20

        # The first sync reads every task once (the annotation counter is not trusted).
        initial = fetch_changed_tasks(client, first.id, None)
        assert len(initial) == 30 and not any(task.annotations for task in initial)
        watermark = dt.datetime.now(dt.UTC)
        time.sleep(1.1)
        client.annotations.create(id=task_ids["i-020"], result=choice_result(config, "neg"))
        client.annotations.create(id=task_ids["i-021"], result=[], was_cancelled=True)
        changed = fetch_changed_tasks(client, first.id, watermark, overlap_seconds=0)
        assert sorted(t.item_id for t in changed) == ["i-020", "i-021"]
        resolution = resolve_labels(changed, config)
        assert [
            (label.item_id, label.label, label.model_version) for label in resolution.labels
        ] == [("i-020", "neg", "m-1")]
        assert advance_watermark(watermark, changed) > watermark
        assert (
            fetch_changed_tasks(
                client, first.id, advance_watermark(watermark, changed), overlap_seconds=0
            )
            == []
        )

        # Several pages, and a bulk change that stamps more tasks than a page holds.
        mark = advance_watermark(watermark, changed)
        many = [task_ids[f"i-{n:03d}"] for n in range(10, 30)]
        for n, task_id in enumerate(many):
            client.annotations.create(
                id=task_id, result=choice_result(config, ["pos", "neg"][n % 2])
            )
        paged = fetch_changed_tasks(client, first.id, mark, overlap_seconds=0, page_size=7)
        assert sorted(t.id for t in paged) == sorted(many)
        mark = advance_watermark(mark, paged)
        client.actions.create(
            id="delete_tasks_annotations",
            project=first.id,
            selected_items={"all": False, "included": many[:12]},
        )
        bulk = fetch_changed_tasks(client, first.id, mark, overlap_seconds=0, page_size=7)
        assert sorted(t.id for t in bulk) == sorted(many[:12])
        assert len({t.updated_at for t in bulk}) == 1  # one stamp for the whole bulk change
        assert all(t.annotations == [] for t in bulk)

        hook = ensure_webhook(client, first.id, "http://127.0.0.1:9/ls", "X-Labelloop-Secret", "s")
        assert (
            ensure_webhook(client, first.id, "http://127.0.0.1:9/ls", "X-Labelloop-Secret", "s2")
            == hook
        )
        client.webhooks.delete(id=hook)

    scenario()


def test_annotated_tasks_are_not_unlabelled_whatever_the_counter_says(
    prefect_server: str, ls: LabelStudio, title: str
) -> None:
    config = build_label_config(LabelSpec(kind=DataKind.TEXT, labels=["pos", "neg"]))

    @flow
    def scenario() -> list[str]:
        project = ensure_project(ls, title, config)
        items = [ItemValue(item_id=f"u-{n}", value=f"text {n}") for n in range(6)]
        task_ids = import_tasks(ls, project.id, build_tasks(items, config))
        ids = dict(zip([item.item_id for item in items], task_ids, strict=True))
        ls.annotations.create(id=ids["u-0"], result=choice_result(config, "pos"))
        ls.annotations.create(id=ids["u-1"], result=choice_result(config, "neg"))
        ls.annotations.create(id=ids["u-2"], result=[], was_cancelled=True)  # a skip
        # Label Studio 1.23.2 leaves the counter at 0 after a fresh annotation (measured);
        # set through the task API so that the test does not depend on the miss. And a
        # counter above 0 on a task nobody annotated.
        ls.tasks.update(id=str(ids["u-0"]), total_annotations=0)
        ls.tasks.update(id=str(ids["u-3"]), total_annotations=2)
        return sorted(task.item_id for task in list_unlabelled_tasks(ls, project.id))

    assert scenario() == ["u-2", "u-3", "u-4", "u-5"]


def test_images_in_an_s3_store_reach_label_studio_through_an_import_storage(
    ls: LabelStudio, stack: Stack, prefect_server: str, title: str, unique: str
) -> None:
    store = stack.s3_store(prefix=f"tests/{unique}")
    store.write_bytes("raw/digits/files/0.png", b"an image")  # Label Studio lists the prefix
    project = ls.projects.create(title=title, label_config=build_label_config(IMAGES).xml)

    @flow
    def connect() -> tuple[int, int]:
        first = ensure_image_storage(ls, project.id, store, "digits")
        return first, ensure_image_storage(ls, project.id, store, "digits")

    # Label Studio checks the connection (with the keys of the store's credentials block)
    # before it creates a storage; it never returns the keys.
    first, again = connect()
    assert first == again  # created once
    storage = ls.import_storage.s3.get(id=first)
    assert (storage.bucket, storage.prefix) == (store.bucket, f"tests/{unique}/raw/digits/files")
    assert storage.s3endpoint == stack.settings.s3_endpoint_url
