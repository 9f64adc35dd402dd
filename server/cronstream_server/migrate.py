"""Schema migrations with Alembic, and the check that `serve` runs first.

The migrations ship inside the package (`migrations/` beside this module), so
an installed wheel migrates as a checkout does. Every function here runs its
own event loop (Alembic's env.py does too): call them outside one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from cronstream_server.core.errors import Unavailable
from cronstream_server.store.database import create_engine
from cronstream_server.store.errors import database_errors

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
HOW_TO_MIGRATE = "run 'cronstream migrate' (or 'cronstream serve --migrate')"


class SchemaNotCurrent(Exception):
    """The database's schema is older than this server's, absent, or cannot
    be read; the message says which, and what to run."""


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would read '%' in passwords as a placeholder.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str) -> None:
    """Takes the database to the newest schema; on Postgres, waits while
    another process migrates the same database (`store.migration_lock`)."""
    command.upgrade(alembic_config(database_url), "head")


def check(database_url: str) -> None:
    """Raises when the models and the migrations disagree (`alembic check`)."""
    command.check(alembic_config(database_url))


def head() -> str:
    """The newest revision this code knows: the schema it needs."""
    revision = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert revision is not None, f"no migrations in {MIGRATIONS}"
    return revision


def require_current(database_url: str) -> None:
    """Raises SchemaNotCurrent unless the database's schema is at `head()`.

    A revision this code does not know is taken to be newer: a newer server
    migrated the database. It is logged, not refused, since refusing would
    stop the older replicas of a rolling upgrade as soon as the first new one
    had migrated. A database that cannot be reached right now is logged too:
    the server starts, NOT_SERVING until the database answers, as it would
    without this check.
    """
    where = make_url(database_url).render_as_string(hide_password=True)
    try:
        current = asyncio.run(_database_revisions(database_url))
    except Unavailable as error:
        log.warning("cannot check the schema of %s: %s", where, error)
        return
    except sa_exc.DBAPIError as error:
        raise SchemaNotCurrent(f"cannot read the schema of {where}: {error.orig}") from None
    problem = _behind(current, ScriptDirectory(str(MIGRATIONS)))
    if problem is not None:
        raise SchemaNotCurrent(f"{problem}: {HOW_TO_MIGRATE} (database: {where})")


async def _database_revisions(database_url: str) -> tuple[str, ...]:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with database_errors(), engine.connect() as connection:
            return await connection.run_sync(_revisions)
    finally:
        await engine.dispose()


def _revisions(connection: Connection) -> tuple[str, ...]:
    """What Alembic's version table holds: () for a database never migrated."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return ()
    return tuple(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def _behind(current: Sequence[str], script: ScriptDirectory) -> str | None:
    """What is wrong with a database at `current` for this code; None if nothing."""
    needed = script.get_current_head()
    if not current:
        return f"the database has no Cronstream schema yet, this server needs {needed}"
    if needed in current:
        return None
    for revision in current:
        try:
            script.get_revision(revision)
        except CommandError:
            log.warning(
                "the database schema is at %s, which this server (at %s) does not know: "
                "a newer server migrated it; serving on it",
                revision,
                needed,
            )
            return None
    return f"the database schema is at {', '.join(current)}, this server needs {needed}"
