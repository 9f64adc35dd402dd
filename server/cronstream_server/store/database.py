"""Engine creation, and what the database can do: the one place that knows
Postgres from SQLite.

The SQL elsewhere branches on a `Dialect`'s abilities, never on a database's
name (APScheduler's SQLAlchemy store decides `_supports_native_interval` and
friends once, at start, in the same spirit).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Table, TextClause, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Insert

from cronstream_server.core.ports import PoolFigures

SQLITE_BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True, slots=True)
class Dialect:
    """The abilities the store's SQL depends on."""

    # clock_timestamp(): one clock every replica reads. Without it (SQLite,
    # embedded: one process) this process's clock is the only one there is.
    database_clock: bool
    # Several write transactions at once, each locking its own rows (FOR
    # UPDATE SKIP LOCKED hands side-by-side claims different rows). Without
    # it (SQLite) a transaction takes the one write lock at BEGIN, the others
    # queue, and the row-lock clauses render as nothing.
    side_by_side_writers: bool
    # Advisory locks (pg_try_advisory_xact_lock): one replica takes a turn.
    advisory_locks: bool
    # Many ids as one uuid[] parameter (`= ANY(...)`): one statement, prepared
    # once, for any number of them, where IN (...) prepares one per count.
    uuid_arrays: bool
    # A batch of rows as one statement over arrays (`unnest`, store.bulk_postgres)
    # instead of an executemany, which costs a round trip per row.
    array_batches: bool
    # jsonb containment (`@>`), served by a GIN index.
    jsonb: bool
    # LIKE ignores (ASCII) case, as SQLite's does: a case-sensitive match
    # needs an exact comparison beside it.
    like_ignores_case: bool
    # Times are kept as ISO text ('9999-12-31 00:00:00.000000'), not as a
    # time type: a literal naming one is written in that form.
    times_as_text: bool
    # LATERAL subqueries: a LIMIT per row of the outer query (the latest runs
    # of each of many jobs, each one index range scan). Without it (SQLite)
    # row_number() over a window ranks the rows instead.
    lateral_joins: bool
    # INSERT ... ON CONFLICT, in this database's flavour of SQLAlchemy's insert.
    _insert: Callable[[Table], postgresql.Insert | sqlite.Insert]

    def insert_or_skip(
        self,
        table: Table,
        index_elements: Sequence[str],
        index_where: ColumnElement[bool] | TextClause | None = None,
    ) -> Insert:
        """INSERT into `table` that skips a row clashing on the unique index
        over `index_elements` (ON CONFLICT DO NOTHING)."""
        return self._insert(table).on_conflict_do_nothing(
            index_elements=list(index_elements), index_where=index_where
        )

    def insert_or_update(
        self, table: Table, index_elements: Sequence[str], updated: Sequence[str]
    ) -> postgresql.Insert | sqlite.Insert:
        """INSERT into `table` that, for a row clashing on the unique index
        over `index_elements`, sets the `updated` columns to the new row's
        (ON CONFLICT DO UPDATE). Rows may be added with `from_select`."""
        insert = self._insert(table)
        return insert.on_conflict_do_update(
            index_elements=list(index_elements),
            set_={name: insert.excluded[name] for name in updated},
        )


POSTGRES = Dialect(
    database_clock=True,
    side_by_side_writers=True,
    advisory_locks=True,
    uuid_arrays=True,
    array_batches=True,
    jsonb=True,
    like_ignores_case=False,
    times_as_text=False,
    lateral_joins=True,
    _insert=postgresql.insert,
)
SQLITE = Dialect(
    database_clock=False,
    side_by_side_writers=False,
    advisory_locks=False,
    uuid_arrays=False,
    array_batches=False,
    jsonb=False,
    like_ignores_case=True,
    times_as_text=True,
    lateral_joins=False,
    _insert=sqlite.insert,
)
_BY_NAME = {"postgresql": POSTGRES, "sqlite": SQLITE}


def dialect_of(bind: AsyncEngine | AsyncConnection) -> Dialect:
    """The abilities of the database behind `bind`. Stores read it once, as
    they are built."""
    found = _BY_NAME.get(bind.dialect.name)
    if found is None:
        raise ValueError(f"Cronstream runs on Postgres or SQLite, not {bind.dialect.name}")
    return found


def create_engine(url: str, *, pool_size: int = 20, reads_only: bool = False) -> AsyncEngine:
    """An async engine for `url`, tuned for its database.

    SQLite gets WAL, immediate transactions, foreign keys (off by
    default in SQLite, and our cascades need them), a busy timeout and
    connections that end their transaction as they close
    (`_EndsTransactionOnClose`); its parent folder is created so the
    embedded default needs no set-up. An
    engine that only reads (the HTTP port's, read_server.py) begins SQLite's
    transactions deferred: under WAL they read a snapshot beside the writer
    instead of queueing for its lock.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"factory": _EndsTransactionOnClose})
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        begin = _begin_deferred if reads_only else _begin_immediate
        event.listen(engine.sync_engine, "begin", begin)
        return engine
    # No pre-ping: it costs a round trip on every checkout, that is on every
    # transaction of the hot path. A connection the database dropped fails
    # one operation instead (UNAVAILABLE to a caller; the engine's loops
    # retry), and SQLAlchemy then discards every pooled connection older
    # than the failure.
    # LIFO: the connection returned last is taken next, so the hot path runs
    # on a few connections whose prepared statements (asyncpg's cache, and
    # Postgres's generic plans after five executions) are warm; in FIFO
    # order every statement was prepared, and custom-planned, on each of the
    # twenty in turn.
    # JIT off: it compiles a statement whose estimated cost passes
    # jit_above_cost, and a prepared statement's generic plan over a large
    # table (unknown LIMIT, unknown bounds) passes it: the ticker's demand
    # of 100,000 jobs took 75-260 ms a tick compiling, for a query that runs
    # in 0.1 ms. Every statement here is a short OLTP one.
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size // 2,
        pool_use_lifo=True,
        connect_args={"server_settings": {"jit": "off"}},
    )


class _EndsTransactionOnClose(sqlite3.Connection):
    """A SQLite connection that rolls its transaction back before it closes.

    A call cancelled mid-query (a client's deadline, a loop stopped at
    shutdown) makes SQLAlchemy close the connection it ran on, from
    aiosqlite's thread. If the cancelled statement still had rows to give,
    its cursor is alive: Python's sqlite3 (3.11+) closes with
    sqlite3_close_v2, which then leaves a "zombie" that keeps its open
    transaction, and so the one write lock, until the garbage collector
    frees the cursor. Every other transaction meanwhile waits out the busy
    timeout and fails; a server stopping then waited 10 s at each step (a
    CI run's hang). ROLLBACK aborts the pending statement and ends the
    transaction, so the lock goes with the close, whatever is left alive.
    """

    def close(self) -> None:
        if self.in_transaction:
            # A rollback that fails still closes: the close is what must happen.
            with contextlib.suppress(sqlite3.Error):
                self.rollback()
        super().close()


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


def _begin_deferred(connection: Connection) -> None:
    """A transaction that only reads: its statements see one snapshot."""
    connection.exec_driver_sql("BEGIN")


def pool_figures(engine: AsyncEngine) -> PoolFigures | None:
    """The engine's pool (None when it keeps none to count, as SQLite's)."""
    pool: Any = engine.pool
    if not hasattr(pool, "checkedout"):
        return None
    return PoolFigures(pool.checkedout(), pool.checkedin(), _waiting(pool))


def _waiting(pool: Any) -> int:
    """Tasks waiting for a connection: SQLAlchemy's async queue pool keeps
    them on an asyncio.Queue it does not expose; 0 when its shape changed."""
    queue = getattr(getattr(pool, "_pool", None), "_queue", None)
    getters = getattr(queue, "_getters", None)
    return len(getters) if getters is not None else 0
