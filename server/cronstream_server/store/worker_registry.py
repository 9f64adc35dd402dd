"""The registry of the cluster's worker sessions on SQL (core.workers).

A replica's report is one transaction of at most three statements: one
upsert of its sessions (one statement run over all of them), one delete of
those that ended, one delete of the rows no replica has refreshed lately.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    bindparam,
    delete,
    exists,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from cronstream_server.core.paging import PageRequest
from cronstream_server.core.workers import ConnectedWorker
from cronstream_server.store.clock import database_now
from cronstream_server.store.database import dialect_of
from cronstream_server.store.errors import database_errors
from cronstream_server.store.paging import split_page
from cronstream_server.store.tables import platforms, worker_sessions
from cronstream_server.store.types import holds_all

sessions = worker_sessions
# What a report changes in a row already there (the rest is fixed at hello).
_REFRESHED = ("slots", "slots_in_use", "last_seen", "reported_at")


def _upsert() -> tuple[Select[Any], list[str]]:
    """Inserts a session or refreshes its row, one row per parameter set; a
    session of a platform deleted meanwhile is skipped (its stream is being
    revoked), where a plain insert would fail the whole report on the
    foreign key. Parameters are prefixed: a bind named after a column of the
    table is reserved for that column's VALUES."""
    binds = {c.name: bindparam(f"p_{c.name}", type_=c.type) for c in sessions.c}
    alive = exists(select(literal(1)).where(platforms.c.id == binds["platform_id"]))
    # SQLite needs a WHERE on an upsert's SELECT to parse ON CONFLICT; we have one.
    rows = select(*binds.values()).where(alive)
    return rows, list(binds)


class SqlWorkerRegistry:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)
        rows, names = _upsert()
        self._upsert = self._dialect.insert_or_update(
            sessions, ["session_id"], _REFRESHED
        ).from_select(names, rows)

    async def report(
        self,
        reported: Sequence[ConnectedWorker],
        ended: Collection[str],
        stale_after: timedelta,
    ) -> None:
        async with database_errors(), self._engine.begin() as conn:
            now = await database_now(conn, self._dialect)
            if reported:
                await conn.execute(self._upsert, [_params(w, now) for w in reported])
            stale = sessions.c.reported_at < now - stale_after
            gone = sessions.c.session_id.in_(list(ended)) if ended else None
            await conn.execute(delete(sessions).where(stale if gone is None else or_(gone, stale)))

    async def forget(self, replica: str) -> None:
        async with database_errors(), self._engine.begin() as conn:
            await conn.execute(delete(sessions).where(sessions.c.replica == replica))

    async def list_workers(
        self, platform_id: str, handler_name: str | None, page: PageRequest, fresh_for: timedelta
    ) -> tuple[list[ConnectedWorker], ConnectedWorker | None]:
        async with database_errors(), self._engine.connect() as conn:
            now = await database_now(conn, self._dialect)
            clauses = [
                sessions.c.platform_id == platform_id,
                sessions.c.reported_at >= now - fresh_for,
                *self._runs(handler_name),
                *_after(page),
            ]
            query = (
                select(sessions)
                .where(*clauses)
                .order_by(sessions.c.worker_id, sessions.c.session_id)
                .limit(page.size + 1)
            )
            rows = (await conn.execute(query)).all()
        return split_page([_worker(row) for row in rows], page.size)

    def _runs(self, handler_name: str | None) -> list[ColumnElement[bool]]:
        if handler_name is None:
            return []
        return [holds_all(sessions.c.handler_names, [handler_name], jsonb=self._dialect.jsonb)]


def _after(page: PageRequest) -> list[ColumnElement[bool]]:
    if page.after is None:
        return []
    worker_id, session_id = page.after
    # Typed literals, so SQLite compares its stored uuid text in its own form.
    bound = tuple_(
        literal(worker_id, sessions.c.worker_id.type),
        literal(session_id, sessions.c.session_id.type),
    )
    return [tuple_(sessions.c.worker_id, sessions.c.session_id) > bound]


def _params(worker: ConnectedWorker, now: Any) -> dict[str, Any]:
    return {
        "p_session_id": worker.session_id,
        "p_platform_id": worker.platform_id,
        "p_worker_id": worker.worker_id,
        "p_handler_names": list(worker.handler_names),
        "p_slots": worker.slots,
        "p_slots_in_use": worker.slots_in_use,
        "p_connected_at": worker.connected_at,
        "p_last_seen": worker.last_seen,
        "p_replica": worker.replica,
        "p_reported_at": now,
    }


def _worker(row: Row[Any]) -> ConnectedWorker:
    return ConnectedWorker(
        session_id=row.session_id,
        platform_id=row.platform_id,
        worker_id=row.worker_id,
        handler_names=tuple(row.handler_names),
        slots=row.slots,
        slots_in_use=row.slots_in_use,
        connected_at=row.connected_at,
        last_seen=row.last_seen,
        replica=row.replica,
    )
