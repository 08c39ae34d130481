"""The push mixes second opinions on labelled items into the batch (ActiveLab), up to a share.

Label Studio is stood in for at the edge (the project, the image storage, the imports,
the review path's task updates); the selection, the scores, the ledgers are the real ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import flows.annotate as annotate_module
import tasks.review as review_module
from annotation.config import build_label_config
from annotation.labels import vote_lists
from blocks import DataStore, LabelStudioCredentials
from flows.annotate import PushParams, push_batch
from flows.train import TrainParams, retrain_model
from learning.evaluation import EvaluationConfig
from monitoring.review import ReviewLedger, ReviewRequest
from specs import DIGITS
from storage.layout import review_ledger_key
from tasks.label_studio import ProjectConfig, ProjectRef
from tests.flows.digits_store import label_records, write_digits, write_labels

LABELLED = 200
WRONG = 10  # labelled items whose one annotator was wrong
BATCH = 10
CREDENTIALS = LabelStudioCredentials(url="http://127.0.0.1:9", api_key="unused")  # never reached


@pytest.fixture
def label_studio(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Label Studio's side of the push and of the review path, recorded."""
    seen: dict[str, Any] = {"imported": [], "reviews": []}
    config = build_label_config(DIGITS.labels)

    def ensure_project(client: Any, title: str, desired: Any, *args: Any) -> ProjectRef:
        return ProjectRef(id=7, title=title, created=False, config=desired)

    def import_tasks(client: Any, project_id: int, payloads: Any) -> list[int]:
        payloads = payloads.unquote()  # the flow quotes them for the real task
        start = len(seen["imported"])
        seen["imported"] += [p["data"]["item_id"] for p in payloads]
        return list(range(1000 + start, 1000 + start + len(payloads)))

    def find_project(client: Any, title: str, control_name: str | None = None) -> ProjectConfig:
        return ProjectConfig(id=7, title=title, config=config)

    def request_reviews(
        client: Any, project_id: int, requests: list[ReviewRequest], extra: int = 1
    ) -> list[ReviewRequest]:
        seen["reviews"] += list(requests)
        return [r.model_copy(update={"overlap": r.annotators + extra}) for r in requests]

    monkeypatch.setattr(annotate_module, "ensure_project", ensure_project)
    monkeypatch.setattr(annotate_module, "ensure_image_storage", lambda *a, **k: 1)
    monkeypatch.setattr(annotate_module, "import_tasks", import_tasks)
    monkeypatch.setattr(review_module, "find_project", find_project)
    monkeypatch.setattr(review_module, "request_reviews", request_reviews)
    monkeypatch.setattr(review_module, "ensure_review_view", lambda *a, **k: 1)
    return seen


@pytest.fixture
def store(tmp_path: Path) -> tuple[DataStore, set[str]]:
    """400 digits, 200 labelled once, 10 of them wrongly, and a champion whose
    out-of-fold probabilities cover every label."""
    target = DataStore(base_path=str(tmp_path / "store"))
    clean = write_digits(target, n=400)
    rows = clean.iloc[:LABELLED]
    items, truth = rows["item_id"].tolist(), [str(t) for t in rows["truth"]]
    wrong = set(items[:: LABELLED // WRONG])
    given = [str((int(t) + 1) % 10) if i in wrong else t for i, t in zip(items, truth, strict=True)]
    records = label_records(items, given)
    for record, label in zip(records, given, strict=True):
        record.update(vote_lists({"1": label}), reason=None)
    write_labels(target, "20240101T000000000000Z-v1", records)
    trained = retrain_model(
        TrainParams(evaluation=EvaluationConfig(holdout_min_items=1000)), store=target
    )
    assert trained.status == "promoted"
    return target, wrong


def test_share_zero_pushes_new_items_only_as_before(store, label_studio) -> None:
    target, _ = store
    result = push_batch(
        PushParams(batch_size=BATCH, strategy="random"), store=target, credentials=CREDENTIALS
    )
    assert (result.selected, result.imported, result.second_opinions) == (BATCH, BATCH, 0)
    assert not label_studio["reviews"] and not target.exists(review_ledger_key("digits"))


def test_second_opinions_take_part_of_the_batch_and_are_never_asked_twice(
    store, label_studio
) -> None:
    target, wrong = store
    params = PushParams(batch_size=BATCH, strategy="random", second_opinion_share=0.5)
    result = push_batch(params, store=target, credentials=CREDENTIALS)
    asked = {r.item_id for r in label_studio["reviews"]}
    assert result.second_opinions == len(asked) == BATCH // 2  # the share caps them
    assert result.selected + result.second_opinions == BATCH  # one batch of labels
    assert len(asked & wrong) >= 4  # the doubtful labels are worth a second look first
    assert all(r.reason == "second_opinion" for r in label_studio["reviews"])
    assert not asked & set(label_studio["imported"])  # new tasks are new items
    ledger = ReviewLedger.model_validate(target.read_json(review_ledger_key("digits")))
    assert ledger.requested() == asked

    again = push_batch(params, store=target, credentials=CREDENTIALS)
    later = {r.item_id for r in label_studio["reviews"][len(asked) :]}
    assert not later & asked and again.selected + again.second_opinions == BATCH
