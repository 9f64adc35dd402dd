"""The database's clock, which every store reads for `now`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.store.database import Dialect

_CLOCK = select(func.clock_timestamp())


async def database_now(conn: AsyncConnection, dialect: Dialect) -> datetime:
    """The database's clock: every replica agrees on it, whatever its own says
    (due times, leases, deadlines and retention cut-offs are all on it).

    Without a database clock (SQLite: embedded, one process) it is this
    process's clock, the only one there is."""
    if not dialect.database_clock:
        return datetime.now(UTC)
    value: datetime = (await conn.execute(_CLOCK)).scalar_one()
    return value.astimezone(UTC)


def as_utc(value: datetime) -> datetime:
    """A time SQLite's min() and max() handed back naive, as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
