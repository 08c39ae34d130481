"""The `labelloop.annotations.changed` events a sync session reacts to, read from Prefect.

Two ways in, both filtered on the server to one project's events: the events already
stored since a moment (a REST read, for what happened before the session started), and a
live subscription (Prefect's events websocket, which also replays the last minute) that
wakes the session within a fraction of a second of a webhook.
"""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.events import Event
from prefect.events.clients import PrefectEventSubscriber, get_events_subscriber
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)

from annotation.session import ProjectChange
from tasks.events import ANNOTATIONS_CHANGED, project_resource

PROJECT_PREFIX = "labelloop.project."


def _changes_filter(project: str, since: dt.datetime | None = None) -> EventFilter:
    selection = EventFilter(
        event=EventNameFilter(name=[ANNOTATIONS_CHANGED]),
        resource=EventResourceFilter(id=[project_resource(project)["prefect.resource.id"]]),
    )
    if since is not None:
        selection.occurred = EventOccurredFilter(since=since)  # type: ignore[arg-type]
    return selection


def change_of(event: Event) -> ProjectChange:
    """The project an `annotations.changed` event names (its resource name) and when."""
    name = event.resource.name or event.resource.id.removeprefix(PROJECT_PREFIX)
    return ProjectChange(id=str(event.id), project=name, occurred=event.occurred)


@task(name="read-annotation-changes", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def read_annotation_changes(since: dt.datetime, project: str) -> list[ProjectChange]:
    """The project's `annotations.changed` events stored on the server since `since`,
    oldest first.

    Args:
        since: the earliest occurrence to include.
        project: the Label Studio project (its title: the data set's name).

    Returns:
        One change per event.
    """
    with get_client(sync_client=True) as client:
        page = client.read_events(filter=_changes_filter(project, since), limit=50)
        events = list(page.events)
        while page.next_page:
            page = client.read_events_page(str(page.next_page))
            events += page.events
    return sorted((change_of(e) for e in events), key=lambda c: c.occurred)


def subscribe_annotation_changes(project: str) -> PrefectEventSubscriber:
    """A subscriber to the project's `annotations.changed` events.

    Use it as `async with subscribe_annotation_changes(name) as events:`; on connecting it
    replays the last minute, then streams events as the server receives them.
    """
    return get_events_subscriber(
        filter=_changes_filter(project), reconnection_attempts=10, reconnect_on_clean_close=True
    )
