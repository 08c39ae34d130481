"""The local stack's Prefect server: `prefect server start`, whose SQLite write
transactions take the write lock when they begin.

    python -m stack.prefect_server --host 127.0.0.1 --port 4200

Prefect begins a write transaction on SQLite as `BEGIN DEFERRED` unless the caller asks
for a row lock. Such a transaction reads first (the deployment, say) and then writes (the
flow run). When another connection commits in between, SQLite cannot upgrade the stale
read to a write and fails at once with "database is locked" (`SQLITE_BUSY_SNAPSHOT`):
`busy_timeout` does not apply to it. The server answers 503 and its client tries again
2 s later, then 4, 8, 16 and 32 s later. In the loop this hit the automation's
`create_flow_run` on most `labels.ready` events, while the events, logs and task runs of
the sync that sent it were still being written: 2.4-2.7 s per hop, up to 64 s.

`BEGIN IMMEDIATE` takes the write lock at the start instead, so a write transaction
waits for the lock under `busy_timeout` (60 s) and never has to upgrade. Reads outside a
transaction are unchanged. This is the database configuration Prefect injects through
`prefect.server.database.dependencies.MODELS_DEPENDENCIES`; a server on PostgreSQL is
left as it is. `tests/unit/stack/test_prefect_server.py` fails if Prefect stops using
it; `tests/integration/test_prefect_server.py` sends the stack's server 40 concurrent
run creations, which Prefect's default configuration answers mostly with 503.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager

from prefect.server.database.configurations import AioSqliteConfiguration
from prefect.server.database.dependencies import MODELS_DEPENDENCIES
from prefect.server.utilities.database import get_dialect
from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction


class ImmediateSqliteConfiguration(AioSqliteConfiguration):
    """Prefect's SQLite configuration, with every write transaction `BEGIN IMMEDIATE`."""

    @asynccontextmanager
    async def begin_transaction(
        self, session: AsyncSession, with_for_update: bool = False
    ) -> AsyncGenerator[AsyncSessionTransaction, None]:
        async with super().begin_transaction(session, with_for_update=True) as transaction:
            yield transaction


def use_immediate_transactions() -> bool:
    """Make this process's Prefect server use `ImmediateSqliteConfiguration`.

    Returns False, changing nothing, when the server's database is not SQLite.
    """
    url = PREFECT_API_DATABASE_CONNECTION_URL.value()
    if get_dialect(url).name != "sqlite":
        return False
    MODELS_DEPENDENCIES["database_config"] = ImmediateSqliteConfiguration(connection_url=url)
    return True


def main(argv: Sequence[str] | None = None) -> None:
    """`prefect server start` with the given options, in this process."""
    from prefect.cli import app

    options = sys.argv[1:] if argv is None else list(argv)
    use_immediate_transactions()
    sys.argv = ["prefect", "server", "start", *options]  # what Prefect's CLI parses
    app()


if __name__ == "__main__":
    main()
