"""Engine creation: the one place that knows Postgres from SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 10_000


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    """An async engine for `url`, tuned for its database.

    SQLite gets WAL, immediate transactions, foreign keys (off by
    default in SQLite, and our cascades need them) and a busy timeout; its
    parent folder is created so the embedded default needs no set-up.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    # No pre-ping: it costs a round trip on every checkout, that is on every
    # transaction of the hot path. A connection the database dropped fails
    # one operation instead (UNAVAILABLE to a caller; the engine's loops
    # retry), and SQLAlchemy then discards every pooled connection older
    # than the failure.
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size // 2)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def _configure_sqlite(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # The driver's own BEGIN is deferred; `_begin_immediate` issues ours instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    """Every SQLite transaction takes the write lock up front.

    A deferred transaction that reads and then writes can fail at once with
    SQLITE_BUSY when another did the same (neither can upgrade its lock);
    taking the lock at BEGIN makes writers queue on the busy timeout instead.
    Reads queue too: SQLite is the single-replica embedded mode, where being
    right matters more than read concurrency.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")
