"""Rows a platform owns, read and rewritten by id within the caller's platform."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.core.errors import NotFound
from cronstream_server.core.ids import is_valid_id

# Columns a rewrite never touches: a row's identity, owner and origin.
IMMUTABLE = frozenset({"id", "platform_id", "created_at", "created_by"})


async def get_owned(
    conn: AsyncConnection, table: Table, platform_id: str, row_id: str, kind: str, *, lock: bool
) -> Row[Any]:
    """The platform's row with this id, locked for a rewrite when `lock`.

    Another platform's id, an unknown one and a malformed one all raise the
    same NotFound: a caller cannot tell them apart. SQLite renders no row
    lock, and needs none: its transactions take the write lock at BEGIN."""
    if is_valid_id(row_id):
        query = select(table).where(table.c.id == row_id, table.c.platform_id == platform_id)
        if lock:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is not None:
            return row
    raise NotFound(kind, row_id)


async def rewrite(
    conn: AsyncConnection, table: Table, row_id: str, values: Mapping[str, Any]
) -> None:
    """Stores a row's new values, all but the immutable ones."""
    changed = {name: value for name, value in values.items() if name not in IMMUTABLE}
    await conn.execute(table.update().where(table.c.id == row_id).values(**changed))


async def rewrite_many(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """`rewrite` for many rows of one shape, in one statement (an executemany)."""
    if not rows:
        return
    names = [name for name in rows[0] if name not in IMMUTABLE]
    statement = (
        table.update()
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in names})
    )
    params = [{"b_id": row["id"], **{f"b_{name}": row[name] for name in names}} for row in rows]
    await conn.execute(statement, params)
