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
