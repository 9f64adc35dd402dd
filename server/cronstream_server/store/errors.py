"""Driver errors become domain errors here, once, for every query."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import exc as sa_exc

from cronstream_server.core.errors import Unavailable


def is_unique_violation(error: sa_exc.IntegrityError) -> bool:
    """True for a unique-key clash (Postgres SQLSTATE 23505, SQLite's UNIQUE message)."""
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate is not None:
        return str(sqlstate) == "23505"
    return "UNIQUE constraint failed" in str(orig)


def is_foreign_key_violation(error: sa_exc.IntegrityError) -> bool:
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate is not None:
        return str(sqlstate) == "23503"
    return "FOREIGN KEY constraint failed" in str(orig)


@asynccontextmanager
async def database_errors() -> AsyncIterator[None]:
    """Turns "the database cannot be reached or is overloaded" into Unavailable.

    Integrity errors pass through: only the query that raised one knows which
    domain error it means.
    """
    try:
        yield
    except sa_exc.IntegrityError:
        raise
    except (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, TimeoutError) as error:
        raise Unavailable(f"database unavailable: {type(error).__name__}") from error
    except sa_exc.DBAPIError as error:
        if error.connection_invalidated:
            raise Unavailable("database connection lost") from error
        raise
