"""A call cancelled mid-query leaves the embedded SQLite database writable.

Cancellation is ordinary here: a client's deadline ends its call, shutdown
stops the loops. A statement cancelled while it still had rows to give made
the connection's close leave a "zombie" holding the one write lock until the
garbage collector ran (store/database.py says how); the server's every
other transaction then failed after the busy timeout.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cronstream_server.store.database import create_engine
from sqlalchemy import text

from tests import databases

# One row, after counting a few million: the count's first step runs long
# enough for the cancellation to land during it, and the row is then left
# unread (the statement stays active) when the call gives up.
SLOW_COUNT = text(
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000000) "
    "SELECT count(*) FROM n"
)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The garbage collector would free the cancelled cursor at some moment
    and release the lock with it: the database must be writable without it."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def can_take_the_write_lock(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=1.0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


async def test_a_query_cancelled_while_it_runs_keeps_the_write_lock_free(tmp_path: Path) -> None:
    path = tmp_path / "cancel.db"
    engine = create_engine(databases.sqlite_url(path))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE probe (x INTEGER)"))

        async def count() -> None:
            async with engine.connect() as conn:  # BEGIN IMMEDIATE: it takes the write lock
                await conn.execute(SLOW_COUNT)

        with collector_paused():
            running = asyncio.create_task(count())
            await asyncio.sleep(0.3)
            assert not running.done(), "the count ended before it could be cancelled"
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

            assert await asyncio.to_thread(can_take_the_write_lock, path)
            async with asyncio.timeout(5), engine.begin() as conn:
                await conn.execute(text("INSERT INTO probe VALUES (1)"))
    finally:
        await engine.dispose()
