"""The loop by itself: annotations in Label Studio lead, through events and deployments
alone, to a new champion whose predictions reach the unlabelled tasks.

The deployments of prefect.yaml (sync, retrain, refresh-predictions) are served by
`labelloop serve` in a subprocess, as a user runs them. After the test has annotated
through the API it makes no further call: a Label Studio webhook -> the receiver ->
`annotations.changed` -> sync -> `labels.ready` -> retrain -> `model.promoted` ->
refresh. The test owns the shipped `texts` data set of the session's stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio

from blocks import DataStore
from demo.bot import TeamConfig, annotate, ensure_team
from tests.conftest import Stack
from tests.integration.loop import (
    diagnosis,
    push_texts,
    serve_loop,
    shown_versions,
    wait_for_refreshed,
)
from tests.served import ServedDeployments

pytestmark = pytest.mark.integration


@pytest.fixture
def served(stack: Stack, prefect_server: str, tmp_path: Path) -> Iterator[ServedDeployments]:
    """`labelloop serve` of sync, retrain and refresh-predictions under unique names."""
    with serve_loop(stack, tmp_path) as served:
        yield served
    print(served.log_tail())


def test_annotations_alone_lead_to_a_new_champion_in_label_studio(
    stack: Stack, prefect_server: str, ls: LabelStudio, served: ServedDeployments
) -> None:
    store = DataStore(base_path=str(stack.settings.data_dir))  # what the served flows use
    project = push_texts(stack, ls, store, rows=90, pushed=60)
    labelled = dict(list(project.truth.items())[:30])
    team = ensure_team(ls, 2, prefix="e2e")
    started = datetime.now(UTC)
    annotate(ls, project.config, labelled, team, TeamConfig(accuracy=1.0, skip_rate=0.0))

    # From here on the loop runs by itself.
    champion = wait_for_refreshed(ls, store, project.id, set(labelled), served, timeout_s=300)
    assert champion is not None, (
        f"no champion's predictions on the unlabelled tasks within 300 s\n{diagnosis(stack, started)}"
    )
    assert shown_versions(ls, project.id, set(labelled)) == {champion}
