"""The loop survives its own faults: a stopped `labelloop serve`, events nobody took, a
Label Studio restart. Each test annotates once and then only disturbs the loop; the
labels must still end as a new champion whose predictions every unlabelled task shows.

What makes up a lost event is the schedule: the sync reads Label Studio every few seconds
here (every minute in prefect.yaml) and announces labels.ready again when no training
used the announced labels; the refresh runs on a schedule too. The served copies of
prefect.yaml use the `texts` data set and short intervals so that a test takes minutes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)

from blocks import DataStore
from demo.bot import TeamConfig, annotate, ensure_team
from specs import TEXTS
from stack import control
from stack.control import LOCAL_BLOCK
from stack.prefect_yaml import PROJECT_ROOT
from stack.serving import deployment_ids
from tasks.events import LABELS_READY, MODEL_PROMOTED
from tests.conftest import Stack
from tests.integration.loop import (
    LOOP,
    TextsProject,
    diagnosis,
    push_texts,
    wait_for_refreshed,
)
from tests.served import ServedDeployments

pytestmark = pytest.mark.integration

# The served copies: sync and refresh on short schedules for the test's data set; the
# sync announces untrained labels again after 30 s (10 minutes in prefect.yaml).
CHANGES: dict[str, dict[str, Any]] = {
    "sync": {
        "parameters": {
            "params": {
                "dataset": TEXTS.name,
                "store_block": LOCAL_BLOCK,
                "quiet_seconds": 5,
                "reannounce_seconds": 30,
            }
        },
        "schedules": [{"interval": 20}],
    },
    "refresh-predictions": {
        "parameters": {"params": {"dataset": TEXTS.name, "store_block": LOCAL_BLOCK}},
        "schedules": [{"interval": 30}],
    },
}
DEADLINE_S = 480


@pytest.fixture
def store(stack: Stack) -> DataStore:
    return DataStore(base_path=str(stack.settings.data_dir))  # what the served flows use


@pytest.fixture
def project(stack: Stack, prefect_server: str, ls: LabelStudio, store: DataStore) -> TextsProject:
    return push_texts(stack, ls, store, rows=90, pushed=60)


@pytest.fixture
def served(stack: Stack, prefect_server: str, tmp_path: Path) -> Iterator[list[ServedDeployments]]:
    """Served copies a test starts itself; all stopped and removed afterwards."""
    made: list[ServedDeployments] = []
    try:
        yield made
    finally:
        for copy in made:
            print(copy.log_tail())
            copy.stop()
            copy.remove()


def _serve(
    stack: Stack, workdir: Path, names: tuple[str, ...], made: list[ServedDeployments]
) -> ServedDeployments:
    copy = ServedDeployments(
        PROJECT_ROOT / "prefect.yaml",
        names,
        workdir,
        stack.prefect_env(),
        changes={name: change for name, change in CHANGES.items() if name in names},
    )
    made.append(copy)
    copy.start()
    return copy


def _label_30(ls: LabelStudio, project: TextsProject) -> tuple[set[int], datetime]:
    labelled = dict(list(project.truth.items())[:30])
    team = ensure_team(ls, 2, prefix="faults")
    started = datetime.now(UTC)
    annotate(ls, project.config, labelled, team, TeamConfig(accuracy=1.0, skip_rate=0.0))
    return set(labelled), started


def _in_flight(served: ServedDeployments) -> list[str]:
    """Runs of the served deployments that claim to be Running or Pending."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=list(deployment_ids(served.served_names).values()))
            ),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])
                )
            ),
        )
    return [f"{run.name} ({run.state_name})" for run in runs]


def _wait_for_event(name: str, resource: str, since: datetime, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            found = client.read_events(
                filter=EventFilter(
                    occurred=EventOccurredFilter(since=since),
                    event=EventNameFilter(name=[name]),
                    resource=EventResourceFilter(id=[resource]),
                ),
                limit=1,
            ).events
            if found:
                return
            time.sleep(1)
    raise AssertionError(f"no {name} for {resource} within {timeout_s:.0f} s")


def test_serve_stopped_right_after_the_annotations_and_restarted_still_refreshes(
    stack: Stack,
    ls: LabelStudio,
    store: DataStore,
    project: TextsProject,
    served: list[ServedDeployments],
    tmp_path: Path,
) -> None:
    loop = _serve(stack, tmp_path, LOOP, served)
    labelled, started = _label_30(ls, project)
    loop.stop()  # the deployments are paused, the runs in flight lose their process
    stuck = _in_flight(loop)
    assert not stuck, f"runs left Running or Pending by the stopped serve: {stuck}"
    loop.start()

    champion = wait_for_refreshed(ls, store, project.id, labelled, loop, DEADLINE_S)
    assert champion is not None, (
        f"no refreshed predictions after the restart\n{diagnosis(stack, started)}"
    )


def test_a_labels_ready_and_a_model_promoted_nobody_took_are_made_up(
    stack: Stack,
    ls: LabelStudio,
    store: DataStore,
    project: TextsProject,
    served: list[ServedDeployments],
    tmp_path: Path,
) -> None:
    """Each event is sent while the deployment it triggers is not served at all."""
    sync = _serve(stack, tmp_path, ("sync",), served)
    labelled, started = _label_30(ls, project)
    _wait_for_event(LABELS_READY, f"labelloop.project.{TEXTS.name}", started, DEADLINE_S)

    # The retrain run for these labels never ran: served only now, after the event.
    _serve(stack, tmp_path, ("retrain",), served)
    _wait_for_event(MODEL_PROMOTED, f"labelloop.model.{TEXTS.name}", started, DEADLINE_S)

    # Nobody refreshed the predictions on model.promoted either.
    _serve(stack, tmp_path, ("refresh-predictions",), served)
    champion = wait_for_refreshed(ls, store, project.id, labelled, sync, DEADLINE_S)
    assert champion is not None, f"the lost events were not made up\n{diagnosis(stack, started)}"


def test_label_studio_restarting_mid_loop_delays_but_does_not_break_it(
    stack: Stack,
    ls: LabelStudio,
    store: DataStore,
    project: TextsProject,
    served: list[ServedDeployments],
    tmp_path: Path,
) -> None:
    loop = _serve(stack, tmp_path, LOOP, served)
    labelled, started = _label_30(ls, project)
    # The webhooks are delivered; the sync reads Label Studio about now.
    stopped = time.monotonic()
    control.down(stack.settings, only={"label-studio"})
    control.up(stack.settings)  # starts Label Studio again (the others are reused)
    down_for = time.monotonic() - stopped

    champion = wait_for_refreshed(ls, store, project.id, labelled, loop, DEADLINE_S)
    assert champion is not None, (
        f"no refreshed predictions after Label Studio was down for {down_for:.0f} s\n"
        f"{diagnosis(stack, started)}"
    )
