"""Pure decisions of a sync session: which projects need another pass, when to stop.

A sync session is one flow run that keeps syncing labels while people annotate: each
`labelloop.annotations.changed` event wakes it, it syncs the projects that changed
since their last pass, and it ends after a quiet spell with no event. See
`flows/sync_session.py`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet

from pydantic import BaseModel, ConfigDict


class ProjectChange(BaseModel):
    """One `labelloop.annotations.changed` event: its id, which project, when it occurred."""

    model_config = ConfigDict(frozen=True)

    id: str
    project: str
    occurred: dt.datetime


def projects_to_sync(
    changes: Iterable[ProjectChange],
    passes_started: Mapping[str, dt.datetime],
    covered: AbstractSet[str] = frozenset(),
    slack: dt.timedelta = dt.timedelta(seconds=1),
) -> list[str]:
    """The projects with a change no pass has read yet, sorted.

    Label Studio commits an annotation before it sends the webhook, so a pass that
    starts after the session received an event reads its change: those events are
    `covered`. For the others only their time stamp tells, and the receiver's clock is
    not the session's: a change that occurred less than `slack` before a project's last
    pass started counts as new (an extra pass finds nothing and costs little; a skipped
    one would leave a label behind until the next event).

    Args:
        changes: events (any order, repeats allowed).
        passes_started: project -> when its last pass started (absent: never synced).
        covered: ids of events received before a pass of their project started.
        slack: how far a change may precede a pass and still count as new.

    Returns:
        The project names to sync now.
    """
    due = {
        change.project
        for change in changes
        if change.id not in covered
        and (
            change.project not in passes_started
            or change.occurred >= passes_started[change.project] - slack
        )
    }
    return sorted(due)


def split_known(projects: Iterable[str], known: AbstractSet[str]) -> tuple[list[str], list[str]]:
    """The projects a pass can sync (a known data set's name) and the others, each sorted.

    An event names its project by the Label Studio title, which anyone who may rename
    a project chooses: a title that names no known data set is never synced (nor looked
    up, imported or passed on as a parameter), it is reported.

    Args:
        projects: project names from events.
        known: the data set names this session can sync.

    Returns:
        (known projects, unknown projects).
    """
    names = set(projects)
    return sorted(names & set(known)), sorted(names - set(known))


def quiet_deadline(last_activity: float, quiet_seconds: float) -> float:
    """When the session ends if nothing else happens (a monotonic clock reading).

    Args:
        last_activity: when the session last received an event or finished a pass.
        quiet_seconds: how long a spell without events ends the session.
    """
    return last_activity + quiet_seconds


def session_dataset(parameters: Mapping[str, object]) -> str | None:
    """The data set a sync session run was started for, read from the run's parameters.

    Args:
        parameters: the run's parameters, `{"params": {"dataset": <name or spec>, ...}}`.

    Returns:
        The data set's name (a spec given whole: its `name`); None when there is none.
    """
    params = parameters.get("params")
    dataset = params.get("dataset") if isinstance(params, Mapping) else None
    if isinstance(dataset, Mapping):
        dataset = dataset.get("name")
    return dataset if isinstance(dataset, str) else None


def running_session(
    dataset: str, runs: Iterable[tuple[str, dt.datetime | None, Mapping[str, object]]]
) -> tuple[str, dt.datetime] | None:
    """The data set's sync session that is running, the earliest started if several.

    Args:
        dataset: the data set.
        runs: the other running sync session runs as (run name, start time, parameters).

    Returns:
        (run name, start time), or None when no session of the data set runs.
    """
    sessions = sorted(
        (started, name)
        for name, started, parameters in runs
        if started is not None and session_dataset(parameters) == dataset
    )
    return (sessions[0][1], sessions[0][0]) if sessions else None


def deferred_message(
    dataset: str, session: tuple[str, dt.datetime] | None, lease_seconds: float
) -> str:
    """Why a run of a data set ends at once, making no pass.

    Args:
        dataset: the data set the run was started for.
        session: the data set's running session (`running_session`), if any.
        lease_seconds: how long a session that crashed keeps the data set's slot.

    Returns:
        The message naming the session that reads the run's changes, or, when none
        runs (one crashed and its slot is not free yet), what reads them instead.
    """
    if session is None:
        return (
            f"{dataset}: the data set's sync slot is held but no session of it is running "
            f"(one that crashed holds it for about {lease_seconds:.0f} s): the next "
            "webhook's run or the scheduled sync reads these changes"
        )
    name, started = session
    return (
        f"{dataset}: the session started at {started.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC "
        f"({name}) reads these changes"
    )
