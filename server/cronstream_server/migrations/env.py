"""Alembic environment: runs migrations on the async engine of the configured URL,
one process at a time per database (`store.migration_lock`)."""

from __future__ import annotations

import asyncio
import logging.config
from typing import Any

from alembic import context
from cronstream_server.config import Settings
from cronstream_server.store.database import create_engine
from cronstream_server.store.migration_lock import migration_lock
from cronstream_server.store.tables import ONLY_ON_DIALECT, metadata
from sqlalchemy.engine import Connection

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url


def _run(connection: Connection) -> None:
    dialect = connection.dialect.name

    def include_object(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
        only_on = getattr(obj, "info", {}).get(ONLY_ON_DIALECT)
        return only_on is None or only_on == dialect

    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=include_object,
        # SQLite cannot ALTER most things in place; batch mode copies the table.
        render_as_batch=dialect == "sqlite",
        # SQLite's DDL is transactional, but Alembic assumes otherwise and
        # commits after each migration, letting a second process (waiting for
        # the write lock, with the version it read before) run a migration
        # the first has just run. One transaction for the whole upgrade keeps
        # the lock until the end, and a failed upgrade leaves nothing behind.
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(_url())
    try:
        async with migration_lock(engine), engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_online())


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run()
