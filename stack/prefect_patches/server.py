"""Patch of Prefect's server for the local stack (see the package docstring).

The local Prefect server on SQLite begins every write transaction `BEGIN IMMEDIATE`.
Prefect begins it `DEFERRED`: a transaction that reads and then writes fails at once
with "database is locked" when another connection committed in between (`busy_timeout`
does not apply to the upgrade), and the client retries it 2, 4, 8... s later.
`IMMEDIATE` takes the write lock first, so the transaction waits under `busy_timeout`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
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

    Patches `prefect.server.database.dependencies.MODELS_DEPENDENCIES["database_config"]`,
    the database configuration Prefect injects. A server on PostgreSQL is left as it is.

    Returns:
        False, changing nothing, when the server's database is not SQLite.
    """
    url = PREFECT_API_DATABASE_CONNECTION_URL.value()
    if get_dialect(url).name != "sqlite":
        return False
    MODELS_DEPENDENCIES["database_config"] = ImmediateSqliteConfiguration(connection_url=url)
    return True
