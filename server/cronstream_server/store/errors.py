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
        if error.connection_invalidated or is_unreachable(error):
            raise Unavailable(f"database unavailable: {_driver_error_name(error)}") from error
        if _sqlstate(error).startswith("22"):
            # Class 22, "data exception": a value the database cannot store
            # (a NUL character, a number out of range). Validation should have
            # named the field; this keeps a gap from becoming INTERNAL.
            raise InvalidArgument.of(
                "request", "holds a value the database cannot store"
            ) from error
        raise


# SQLSTATE classes and codes that say "not now" rather than "not this":
# 08 connection exception; 53 insufficient resources (too many connections,
# out of memory or disk); 57P01-57P05 the server shutting down, restarting,
# starting up (asyncpg's CannotConnectNowError) or idle-session timeouts;
# 40001/40P01 serialization failure and deadlock, which Postgres resolves by
# aborting one of the parties: a retry succeeds.
_TRANSIENT_CLASSES = ("08", "53")
_TRANSIENT_CODES = frozenset({"57P01", "57P02", "57P03", "57P04", "57P05", "40001", "40P01"})


def is_unreachable(error: sa_exc.DBAPIError) -> bool:
    """True when the database could not serve the statement at all, as
    opposed to refusing it: the same statement may succeed later."""
    sqlstate = _sqlstate(error)
    if sqlstate:
        return sqlstate.startswith(_TRANSIENT_CLASSES) or sqlstate in _TRANSIENT_CODES
    # A driver error without a SQLSTATE: lost sockets and time-outs count.
    orig = error.orig
    return isinstance(orig, OSError | TimeoutError) or isinstance(
        getattr(orig, "__cause__", None), OSError | TimeoutError
    )


def _driver_error_name(error: sa_exc.DBAPIError) -> str:
    orig = error.orig
    cause = getattr(orig, "__cause__", None) or orig
    return type(cause).__name__


def _sqlstate(error: sa_exc.DBAPIError) -> str:
    orig = error.orig
    return str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
