"""Throwaway databases for tests: one migrated template per session, a fresh
copy per test (Postgres: CREATE DATABASE ... TEMPLATE; SQLite: a file copy).

Postgres comes from scripts/services.sh (CRONSTREAM_TEST_POSTGRES_DSN). When it
is not configured the Postgres variants are skipped, unless
CRONSTREAM_REQUIRE_SERVICES=1 (as `make test` sets), where that is an error.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
import pytest
from cronstream_server import migrate
from sqlalchemy.engine import make_url

# One template per test run, so that two runs sharing a Postgres do not collide.
TEMPLATE = f"cronstream_template_{os.getpid()}"


def postgres_dsn() -> str | None:
    dsn = os.environ.get("CRONSTREAM_TEST_POSTGRES_DSN")
    if not dsn and os.environ.get("CRONSTREAM_REQUIRE_SERVICES") == "1":
        raise RuntimeError("CRONSTREAM_TEST_POSTGRES_DSN is not set; run tests with `make test`")
    return dsn


def redis_url() -> str | None:
    url = os.environ.get("CRONSTREAM_TEST_REDIS_URL")
    if not url and os.environ.get("CRONSTREAM_REQUIRE_SERVICES") == "1":
        raise RuntimeError("CRONSTREAM_TEST_REDIS_URL is not set; run tests with `make test`")
    return url


def require_postgres() -> str:
    dsn = postgres_dsn()
    if dsn is None:
        pytest.skip("Postgres not configured (run `make test`)")
    return dsn


def asyncpg_url(dsn: str, name: str) -> str:
    url = make_url(dsn).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


async def _admin_connection(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn)


async def build_postgres_template(dsn: str) -> None:
    """Drops and re-creates the template database, migrated to head."""
    conn = await _admin_connection(dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await conn.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await conn.close()
    # Alembic's env.py runs an event loop of its own, so it gets a thread.
    await asyncio.to_thread(migrate.upgrade, asyncpg_url(dsn, TEMPLATE))


async def drop_postgres_template(dsn: str) -> None:
    await _drop_database(dsn, TEMPLATE)


@asynccontextmanager
async def postgres_copy(dsn: str) -> AsyncIterator[str]:
    """A fresh database cloned from the template; dropped afterwards.

    DROP DATABASE fails while a connection is open, so a test that leaks a
    connection fails here.
    """
    name = f"test_{uuid.uuid4().hex[:12]}"
    conn = await _admin_connection(dsn)
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
    finally:
        await conn.close()
    try:
        yield asyncpg_url(dsn, name)
    finally:
        conn = await _admin_connection(dsn)
        try:
            leaked = await _open_connections(conn, name)
            await conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
        finally:
            await conn.close()
        assert leaked == 0, f"{leaked} connection(s) to {name} left open by the test"


async def _open_connections(conn: asyncpg.Connection, name: str) -> int:
    """Sessions still connected to `name`. A backend whose client just closed
    its socket lingers in pg_stat_activity for a moment, so a count that does
    not drop to zero within a second is a leak."""
    deadline = asyncio.get_running_loop().time() + 1.0
    while True:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name
        )
        if count == 0 or asyncio.get_running_loop().time() > deadline:
            return count
        await asyncio.sleep(0.05)


async def _create_database(dsn: str, name: str) -> None:
    conn = await _admin_connection(dsn)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()


async def _drop_database(dsn: str, name: str) -> None:
    conn = await _admin_connection(dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@asynccontextmanager
async def empty_postgres_database(dsn: str) -> AsyncIterator[str]:
    name = f"empty_{uuid.uuid4().hex[:12]}"
    await _create_database(dsn, name)
    try:
        yield asyncpg_url(dsn, name)
    finally:
        await _drop_database(dsn, name)


@contextmanager
def sync_empty_postgres_database(dsn: str) -> Iterator[str]:
    """`empty_postgres_database` for synchronous tests (no event loop running)."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_database(dsn, name))
    try:
        yield asyncpg_url(dsn, name)
    finally:
        asyncio.run(_drop_database(dsn, name))


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def build_sqlite_template(directory: Path) -> Path:
    path = directory / "template.db"
    migrate.upgrade(sqlite_url(path))
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    target = directory / f"test_{uuid.uuid4().hex[:12]}.db"
    shutil.copyfile(template, target)
    return sqlite_url(target)
