"""Labels sent back to Label Studio for another annotator: the one request-review path.

The monitor flow sends the champion's disputes down it, the retrain flow its top label
issues, the push its second opinions. Either way the task's overlap is raised, ``is_labeled`` cleared, the reason noted
in its meta, the request recorded in the project's review ledger, and the Data Manager
tab lists every item still waiting; training holds those items back until someone looked.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from blocks import DataStore, LabelStudioCredentials
from monitoring.decisions import DisputedLabel
from monitoring.review import ReviewReason, ReviewRequest, plan_reviews, waiting_for_review
from specs import DatasetSpec
from tasks.label_studio import ensure_review_view, find_project, request_reviews, require_project
from tasks.state import read_review_ledger, save_review_ledger
from tasks.training import utc_now


@task(name="send-for-review", cache_policy=NO_CACHE)
def send_for_review(
    store: DataStore,
    credentials: LabelStudioCredentials,
    spec: DatasetSpec,
    labels: pd.DataFrame,
    disputes: Sequence[DisputedLabel],
    *,
    labels_version: str,
    model_version: str | None,
    extra_annotators: int = 1,
    reason: ReviewReason = "disputed",
) -> tuple[list[ReviewRequest], int]:
    """Send the items never sent back before to Label Studio; refresh the review tab.

    The ledger is saved after Label Studio has the requests, so a crash in between sends
    them again on the rerun, which changes nothing a second time.

    Args:
        store: the DataStore holding the review ledger.
        credentials: the Label Studio credentials.
        spec: the data set (its project and label control).
        labels: the whole labels version the items come from (the waiting items are
            counted on it, so pass it before any item is held back).
        disputes: the items to send back, first first.
        labels_version: the labels version.
        model_version: the model that doubts them.
        extra_annotators: more annotators asked for per task.
        reason: why they go back (``disputed`` or ``label_issue``), noted in the ledger.

    Returns:
        (the requests sent now, how many items of ``labels`` wait for review in all).
    """
    ledger = read_review_ledger(store, spec.name)
    planned = plan_reviews(
        disputes,
        labels,
        ledger,
        labels_version=labels_version,
        model_version=model_version,
        now=utc_now(),
        reason=reason,
    )
    client = credentials.get_client()
    project_id = require_project(
        find_project(client, spec.project, spec.labels.control_name), spec.project
    ).id
    sent = request_reviews(client, project_id, planned, extra_annotators) if planned else []
    if sent:
        ledger = ledger.with_requests(sent)
        save_review_ledger(store, ledger)
    waiting = waiting_for_review(ledger, labels)
    ensure_review_view(client, project_id, waiting)
    get_run_logger().info(
        "%s: %d sent back for review (%s), %d waiting in all",
        spec.name,
        len(sent),
        reason,
        len(waiting),
    )
    return sent, len(waiting)
