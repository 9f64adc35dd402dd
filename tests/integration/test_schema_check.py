"""`serve`'s schema check (`migrate.require_current`), on both databases: a
schema older than the code, or none, is refused with what to run; the code's
own passes; one newer than the code is served on, with a warning."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from cronstream_server import migrate
from cronstream_server.migrate import SchemaNotCurrent
from cronstream_server.store.database import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests import databases

HOW = "run 'cronstream migrate' (or 'cronstream serve --migrate')"


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield databases.sqlite_url(tmp_path / "empty.db")
        return
    with databases.sync_empty_postgres_database(databases.require_postgres()) as url:
        yield url


def test_an_empty_database_is_refused_with_what_to_run(empty_database: str) -> None:
    with pytest.raises(SchemaNotCurrent) as refused:
        migrate.require_current(empty_database)
    assert str(refused.value).startswith(
        f"the database has no Cronstream schema yet, this server needs {migrate.head()}: {HOW}"
    )


def test_an_older_schema_is_refused_naming_both_revisions(empty_database: str) -> None:
    command.upgrade(migrate.alembic_config(empty_database), "0004")
    with pytest.raises(SchemaNotCurrent) as refused:
        migrate.require_current(empty_database)
    assert str(refused.value).startswith(
        f"the database schema is at 0004, this server needs {migrate.head()}: {HOW}"
    )


def test_the_message_names_the_database_without_its_password() -> None:
    dsn = databases.require_postgres()
    with databases.sync_empty_postgres_database(dsn) as url:
        with_password = make_url(url).set(password="s3cret").render_as_string(hide_password=False)
        with pytest.raises(SchemaNotCurrent) as refused:
            # Trust authentication: the server ignores the password.
            migrate.require_current(with_password)
    assert "(database: postgresql+asyncpg://postgres:***@" in str(refused.value)
    assert "s3cret" not in str(refused.value)


def test_the_schema_at_head_passes(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    migrate.require_current(empty_database)


def test_a_newer_schema_is_served_on_with_a_warning(
    empty_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    migrate.upgrade(empty_database)
    _set_revision(empty_database, "9999")
    with caplog.at_level(logging.WARNING, logger="cronstream_server.migrate"):
        migrate.require_current(empty_database)
    assert f"the database schema is at 9999, which this server (at {migrate.head()})" in caplog.text


def test_a_database_that_cannot_be_read_is_refused() -> None:
    dsn = databases.require_postgres()
    missing = databases.asyncpg_url(dsn, "no_such_database")
    with pytest.raises(SchemaNotCurrent) as refused:
        migrate.require_current(missing)
    assert "cannot read the schema of postgresql+asyncpg://" in str(refused.value)
    assert 'database "no_such_database" does not exist' in str(refused.value)


def test_a_database_out_of_reach_is_left_to_health(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens on port 1: the server would start NOT_SERVING, as without the check.
    unreachable = "postgresql+asyncpg://postgres@127.0.0.1:1/cronstream"
    with caplog.at_level(logging.WARNING, logger="cronstream_server.migrate"):
        migrate.require_current(unreachable)
    assert "cannot check the schema of postgresql+asyncpg://postgres@127.0.0.1:1/" in caplog.text


def _set_revision(database_url: str, revision: str) -> None:
    async def update() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    text("UPDATE alembic_version SET version_num = :revision"),
                    {"revision": revision},
                )
        finally:
            await engine.dispose()

    asyncio.run(update())
