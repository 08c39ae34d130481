"""The trivial flow whose triggered runs measure Prefect's own trigger-to-run time.

`benchmarks.loop_latency` serves it beside the loop's deployments, in the same
`labelloop serve` process, and starts it with an event: the time from that event to the
run's Running state is the floor any event-started flow of the loop pays.
"""

from __future__ import annotations

from prefect import flow

PING = "labelloop.benchmark.ping"


@flow(name="noop")
def noop() -> None:
    """Do nothing: what is measured is how long Prefect takes to start it."""
