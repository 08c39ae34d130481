"""Flow tests run against prefect_test_harness (a temporary server), started once.

The server requires an API auth string, as the stack's does, so every client a flow
starts (the API, the events websocket, a script's subprocess) must send it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from prefect.settings import (
    PREFECT_API_AUTH_STRING,
    PREFECT_SERVER_API_AUTH_STRING,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session", autouse=True)
def harness() -> Iterator[None]:
    auth = f"flows:{secrets.token_urlsafe(18)}"
    updates = {PREFECT_SERVER_API_AUTH_STRING: auth, PREFECT_API_AUTH_STRING: auth}
    with temporary_settings(updates=updates), prefect_test_harness(server_startup_timeout=120):
        yield
