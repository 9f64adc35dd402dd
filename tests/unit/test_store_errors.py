"""Connection-level database failures become Unavailable (UNAVAILABLE at the
edge, retried by the engine), whatever class the driver gave them."""

from __future__ import annotations

import asyncpg
import pytest
from cronstream_server.core.errors import InvalidArgument, Unavailable
from cronstream_server.store.errors import database_errors
from sqlalchemy import exc as sa_exc


def wrapped(orig: Exception, **flags: bool) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", {}, orig, **flags)


@pytest.mark.parametrize(
    "orig",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        ConnectionResetError("connection reset by peer"),
    ],
    ids=lambda error: type(error).__name__,
)
async def test_connection_failures_are_unavailable(orig: Exception) -> None:
    with pytest.raises(Unavailable):
        async with database_errors():
            raise wrapped(orig)


async def test_a_data_exception_names_the_request() -> None:
    orig = asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence")
    with pytest.raises(InvalidArgument):
        async with database_errors():
            raise wrapped(orig)


async def test_other_errors_stay_bugs() -> None:
    orig = asyncpg.exceptions.UndefinedColumnError('column "nope" does not exist')
    with pytest.raises(sa_exc.DBAPIError):
        async with database_errors():
            raise wrapped(orig)
