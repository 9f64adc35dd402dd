"""One migration at a time per database, so that replicas started together
with `serve --migrate` may all migrate: the first runs the migrations, the
others wait for it and then find the schema at head.

Postgres: a session-level advisory lock, on a connection of its own in
autocommit, taken by polling `pg_try_advisory_lock`:
- not a transaction-level lock, which would end at the first COMMIT: the
  migrations that build indexes CONCURRENTLY commit half-way (Alembic's
  `autocommit_block`);
- not a blocking `pg_advisory_lock`: CREATE INDEX CONCURRENTLY waits for every
  transaction holding a snapshot older than its own, and a backend blocked
  inside `pg_advisory_lock()` holds one. The migrating process would wait for
  the waiting one, which waits for its lock: Postgres reports a deadlock and
  aborts one of them. A poller holds no snapshot between its tries.
The lock is released when the migration ends, or with the connection when
the process dies. Advisory locks belong to one database of the cluster.

SQLite needs none: each of its transactions takes the write lock at BEGIN
(`store.database`), and a migration is one transaction, so a second one
waits for the first to commit (up to the busy timeout), then finds nothing
to do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.store.database import dialect_of

log = logging.getLogger(__name__)

# 'cronmigr' as a signed 64-bit key: ours alone among the database's advisory locks.
LOCK_KEY = int.from_bytes(b"cronmigr", "big", signed=True)
POLL_SECONDS = 0.25

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


@asynccontextmanager
async def migration_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Holds the database's migration lock for the body (Postgres); waits
    while another process holds it. A no-op on SQLite."""
    if not dialect_of(engine).advisory_locks:
        yield
        return
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await _acquire(autocommit)
        try:
            yield
        finally:
            await autocommit.execute(_UNLOCK, {"key": LOCK_KEY})


async def _acquire(connection: AsyncConnection) -> None:
    waiting = False
    while not await connection.scalar(_TRY_LOCK, {"key": LOCK_KEY}):
        if not waiting:
            log.info("another process is migrating this database: waiting for it to finish")
            waiting = True
        await asyncio.sleep(POLL_SECONDS)
    if waiting:
        log.info("took the migration lock")
