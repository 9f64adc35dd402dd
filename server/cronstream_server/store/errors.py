"""Driver errors become domain errors here, once, for every query."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import exc as sa_exc

from cronstream_server.core.errors import InvalidArgument, Unavailable


def is_unique_violation(error: sa_exc.IntegrityError) -> bool:
    """True for a unique-key clash (Postgres SQLSTATE 23505, SQLite's UNIQUE message)."""
    sqlstate = _sqlstate(error)
    return sqlstate == "23505" if sqlstate else "UNIQUE constraint failed" in str(error.orig)


def is_foreign_key_violation(error: sa_exc.IntegrityError) -> bool:
    """True when a referenced row is missing (Postgres 23503, SQLite's FOREIGN KEY message)."""
    sqlstate = _sqlstate(error)
    return sqlstate == "23503" if sqlstate else "FOREIGN KEY constraint failed" in str(error.orig)


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
        if _sqlstate(error).startswith("22"):
            # Class 22, "data exception": a value the database cannot store
            # (a NUL character, a number out of range). Validation should have
            # named the field; this keeps a gap from becoming INTERNAL.
            raise InvalidArgument.of(
                "request", "holds a value the database cannot store"
            ) from error
        raise


def _sqlstate(error: sa_exc.DBAPIError) -> str:
    orig = error.orig
    return str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
