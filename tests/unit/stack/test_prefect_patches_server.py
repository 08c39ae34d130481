"""The local Prefect server's SQLite write transactions: a read then a write never fails
because another connection committed in between (real SQLite, no server)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.server.database.configurations import BaseDatabaseConfiguration
from prefect.server.database.dependencies import (
    MODELS_DEPENDENCIES,
    provide_database_interface,
)
from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, temporary_settings

from stack.prefect_patches.server import (
    ImmediateSqliteConfiguration,
    use_immediate_transactions,
)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A SQLite file as the server's database; Prefect's injected dependencies restored."""
    for key in list(MODELS_DEPENDENCIES):
        monkeypatch.setitem(MODELS_DEPENDENCIES, key, None)  # type: ignore[misc]
    path = tmp_path / "prefect.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("CREATE TABLE run (writer TEXT)")
    url = f"sqlite+aiosqlite:///{path}"
    with temporary_settings(updates={PREFECT_API_DATABASE_CONNECTION_URL: url}):
        yield path


def _write_elsewhere(path: Path, errors: list[Exception]) -> None:
    """Another connection of the server (events, logs) committing a write."""
    try:
        with sqlite3.connect(path, timeout=10) as connection:
            connection.execute("INSERT INTO run VALUES ('other')")
    except sqlite3.Error as error:
        errors.append(error)


async def _read_then_write(config: BaseDatabaseConfiguration, path: Path) -> list[Exception]:
    """What `create_flow_run_from_deployment` does: read, then insert, in one transaction,
    while another connection writes. Returns the other connection's errors."""
    errors: list[Exception] = []
    other = threading.Thread(target=_write_elsewhere, args=(path, errors))
    engine = await config.engine()
    try:
        async with await config.session(engine) as session, config.begin_transaction(session):
            await session.execute(sa.text("SELECT count(*) FROM run"))
            other.start()
            other.join(timeout=1)  # done at once unless this transaction holds the lock
            await session.execute(sa.text("INSERT INTO run VALUES ('server')"))
        await asyncio.to_thread(other.join)
    finally:
        await engine.dispose()
    return errors


def _writers(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT writer FROM run ORDER BY rowid")]


def test_prefect_uses_the_immediate_configuration_and_no_write_is_lost(database: Path) -> None:
    assert use_immediate_transactions() is True
    config = provide_database_interface().database_config
    assert isinstance(config, ImmediateSqliteConfiguration)

    errors = asyncio.run(_read_then_write(config, database))

    assert errors == []
    # The server's transaction held the write lock from its start; the other waited.
    assert _writers(database) == ["server", "other"]


def test_prefects_default_fails_the_same_transaction(database: Path) -> None:
    """Why the stack's server needs the configuration: without it the insert fails."""
    config = provide_database_interface().database_config
    assert not isinstance(config, ImmediateSqliteConfiguration)

    with pytest.raises(sa.exc.OperationalError, match="database is locked"):
        asyncio.run(_read_then_write(config, database))
    assert _writers(database) == ["other"]


def test_a_server_on_postgresql_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MODELS_DEPENDENCIES, "database_config", None)
    url = "postgresql+asyncpg://prefect:prefect@127.0.0.1:5432/prefect"
    with temporary_settings(updates={PREFECT_API_DATABASE_CONNECTION_URL: url}):
        assert use_immediate_transactions() is False
    assert MODELS_DEPENDENCIES["database_config"] is None
