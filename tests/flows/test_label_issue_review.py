"""The retrain flow sends its top label issues down the review path, and the next training holds them.

Label Studio is stood in for at the edge (the project lookup, the task updates, the
Data Manager tab); the ledger, the choice and the hold are the real ones.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

import tasks.review as review_module
from blocks import DataStore, LabelStudioCredentials
from flows.train import TrainParams, retrain_model
from learning.evaluation import EvaluationConfig
from monitoring.review import ReviewLedger, ReviewRequest
from storage.layout import review_ledger_key
from tasks.label_studio import ProjectConfig
from tests.flows.digits_store import label_records, write_digits, write_labels

N = 300
# cross-validation, not a holdout: every label gets an out-of-fold probability
EVALUATION = EvaluationConfig(holdout_min_items=1000)


# never reached: the Label Studio calls below are stood in for
CREDENTIALS = LabelStudioCredentials(url="http://127.0.0.1:9", api_key="unused")


@pytest.fixture
def label_studio(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The Label Studio edge of the review path, recorded."""
    seen: dict[str, Any] = {"sent": [], "views": []}

    def find_project(client: Any, title: str, control_name: str | None = None) -> ProjectConfig:
        return ProjectConfig.model_construct(id=7, title=title, config=None)

    def request_reviews(
        client: Any, project_id: int, requests: list[ReviewRequest], extra: int = 1
    ) -> list[ReviewRequest]:
        seen["sent"].append((project_id, list(requests), extra))
        return [r.model_copy(update={"overlap": r.annotators + extra}) for r in requests]

    def ensure_review_view(client: Any, project_id: int, waiting: list[ReviewRequest]) -> int:
        seen["views"].append({r.item_id for r in waiting})
        return 1

    monkeypatch.setattr(review_module, "find_project", find_project)
    monkeypatch.setattr(review_module, "request_reviews", request_reviews)
    monkeypatch.setattr(review_module, "ensure_review_view", ensure_review_view)
    return seen


def _flipped(truth: str) -> str:
    return str((int(truth) + 1) % 10)


def test_top_label_issues_go_to_review_and_the_next_training_holds_them(
    tmp_path: Path, label_studio: dict[str, Any]
) -> None:
    store = DataStore(base_path=str(tmp_path / "store"))
    clean = write_digits(store, n=N)
    flipped = set(clean["item_id"].iloc[::10])  # 10% of the labels are wrong
    labels = [
        _flipped(t) if i in flipped else t
        for i, t in zip(clean["item_id"], clean["truth"], strict=True)
    ]
    write_labels(store, "v1", label_records(clean["item_id"].tolist(), labels))
    model = f"m{uuid.uuid4().hex[:8]}"

    off = retrain_model(TrainParams(model_name=model, evaluation=EVALUATION), store=store)
    assert off.review_requested == 0 and not label_studio["sent"]  # opt-in, as disputes are
    assert not store.exists(review_ledger_key("digits"))

    params = TrainParams(
        model_name=model, evaluation=EVALUATION, review_label_issues=True, label_issue_top=8
    )
    first = retrain_model(params, store=store, credentials=CREDENTIALS)
    assert first.review_requested == 8
    ((project_id, requests, extra),) = label_studio["sent"]
    assert (project_id, extra) == (7, 1)
    sent = {r.item_id for r in requests}
    assert len(sent & flipped) >= 7  # wrong labels go back (precision at k >= 0.8)
    assert all(r.reason == "label_issue" and r.model_version == first.version for r in requests)
    assert label_studio["views"] == [sent]  # the review tab lists them
    ledger = ReviewLedger.model_validate(store.read_json(review_ledger_key("digits")))
    assert ledger.requested() == sent

    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"{model}-label-issues"])),
            sort=ArtifactSort.CREATED_DESC,  # this run's, not the first run's
            limit=1,
        )
    data = artifact.data
    rows = pd.DataFrame(json.loads(data) if isinstance(data, str) else data)
    assert set(rows.loc[rows["review"] == "requested", "item_id"]) == sent

    second = retrain_model(params, store=store, credentials=CREDENTIALS)
    assert second.held_for_review == 8 and second.used == N - 8  # held until looked at
    # nothing is sent back twice; the next worst labels go instead
    later = [r.item_id for _, requests, _ in label_studio["sent"][1:] for r in requests]
    assert not set(later) & sent
