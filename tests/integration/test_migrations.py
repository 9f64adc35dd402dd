"""Migrations take an empty database to head, and agree with the models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cronstream_server import migrate
from cronstream_server.store.database import create_engine
from cronstream_server.store.tables import metadata
from sqlalchemy import inspect

from tests import databases


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield databases.sqlite_url(tmp_path / "empty.db")
        return
    dsn = databases.require_postgres()
    async with databases.empty_postgres_database(dsn) as url:
        yield url


async def test_upgrade_from_empty_then_models_and_migrations_agree(empty_database: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_database)
    # `alembic check`: raises when autogenerate would emit any operation.
    await asyncio.to_thread(migrate.check, empty_database)

    engine = create_engine(empty_database)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert set(metadata.tables) | {"alembic_version"} == tables


async def test_upgrade_twice_is_harmless(empty_database: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_database)
    await asyncio.to_thread(migrate.upgrade, empty_database)
    await asyncio.to_thread(migrate.check, empty_database)
