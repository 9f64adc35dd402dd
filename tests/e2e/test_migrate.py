"""`cronstream migrate` and `serve --migrate` as processes: several at once on
one database take turns (Postgres: the advisory lock of
store/migration_lock.py) and all succeed; `serve` without `--migrate`
refuses a schema older than its own, and serves once it is migrated."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from alembic import command
from cronstream_server import migrate
from cronstream_server.store.migration_lock import LOCK_KEY
from sqlalchemy.engine import make_url

from tests import databases
from tests.e2e.processes import ServerProcess, start_cronstream

WAITING = "another process is migrating this database: waiting for it to finish"
# Alembic's line for the first migration: whoever writes it built the schema.
FIRST_MIGRATION = "Running upgrade  -> 0001"


async def test_replicas_migrating_one_postgres_database_at_once_take_turns(
    tmp_path: Path,
) -> None:
    """The test holds the lock until both processes wait for it, so they
    overlap for sure; then one migrates (building indexes CONCURRENTLY, which
    waits for other transactions) while the other polls for the lock."""
    dsn = databases.require_postgres()
    async with databases.empty_postgres_database(dsn) as url:
        holder = await asyncpg.connect(_libpq(url))
        try:
            await holder.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
            env = {"CRONSTREAM_DATABASE_URL": url}
            migrating = start_cronstream(["migrate"], tmp_path, env)
            serving = start_cronstream(["serve", "--migrate"], tmp_path, env)
            try:
                for process in (migrating, serving):
                    await asyncio.to_thread(process.read_until, WAITING)
                await holder.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
                await asyncio.to_thread(serving.read_until, "serving on")
                await asyncio.to_thread(migrating.process.wait, 60)
            finally:
                migrating_exit, serving_exit = migrating.terminate(), serving.terminate()
        finally:
            await holder.close()
        assert (migrating_exit, serving_exit) == (0, 0), migrating.log + serving.log
        _assert_migrated_once([migrating, serving])
        await asyncio.to_thread(migrate.require_current, url)
        await asyncio.to_thread(migrate.check, url)


def test_migrations_started_at_once_on_one_sqlite_file_all_succeed(tmp_path: Path) -> None:
    env = {"CRONSTREAM_DATABASE_URL": databases.sqlite_url(tmp_path / "cronstream.db")}
    processes = [start_cronstream(["migrate"], tmp_path, env) for _ in range(3)]
    for process in processes:
        code = process.process.wait(60)
        process.terminate()  # collects the output
        assert code == 0, process.log
    _assert_migrated_once(processes)
    migrate.require_current(env["CRONSTREAM_DATABASE_URL"])


def test_serve_refuses_an_older_schema_until_it_is_migrated(tmp_path: Path) -> None:
    url = databases.sqlite_url(tmp_path / "cronstream.db")
    command.upgrade(migrate.alembic_config(url), "0004")
    env = {"CRONSTREAM_DATABASE_URL": url}

    refused = start_cronstream(["serve"], tmp_path, env)
    code = refused.process.wait(60)
    refused.terminate()
    assert code == 1, refused.log
    assert (
        f"the database schema is at 0004, this server needs {migrate.head()}: "
        f"run 'cronstream migrate' (or 'cronstream serve --migrate') (database: {url})"
    ) in refused.log
    assert "Traceback" not in refused.log
    assert "serving on" not in refused.log

    migrating = start_cronstream(["migrate"], tmp_path, env)
    code = migrating.process.wait(60)
    migrating.terminate()
    assert code == 0, migrating.log

    serving = start_cronstream(["serve"], tmp_path, env)
    try:
        serving.read_until("serving on")
    finally:
        assert serving.terminate() == 0


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _assert_migrated_once(processes: list[ServerProcess]) -> None:
    logs = "".join(process.log for process in processes)
    assert logs.count(FIRST_MIGRATION) == 1, logs
    assert "Traceback" not in logs, logs
