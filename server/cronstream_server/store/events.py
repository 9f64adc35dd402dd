"""EventStore on SQL: event handlers (TriggerEvent's fan-out is in event_delivery)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.core.enums import HandlerType, Priority
from cronstream_server.core.errors import NotFound
from cronstream_server.core.events import EventHandler, EventHandlerSpec
from cronstream_server.core.ids import is_valid_id
from cronstream_server.core.paging import PageRequest
from cronstream_server.store.errors import database_errors
from cronstream_server.store.owned import get_owned, rewrite
from cronstream_server.store.paging import keyset_page, split_page
from cronstream_server.store.rows import concurrency_from_row, concurrency_values
from cronstream_server.store.tables import event_handlers, scheduled_jobs

handlers = event_handlers
jobs = scheduled_jobs


class SqlEventStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_handler(self, handler: EventHandler) -> EventHandler:
        async with database_errors(), self._engine.begin() as conn:
            await conn.execute(handlers.insert().values(**handler_values(handler)))
        return handler

    async def get_handler(self, platform_id: str, handler_id: str) -> EventHandler:
        """Raises NotFound for an unknown, malformed or another platform's id."""
        async with database_errors(), self._engine.connect() as conn:
            return await _get(conn, platform_id, handler_id, lock=False)

    async def list_handlers(
        self, platform_id: str, event_name: str, page: PageRequest
    ) -> tuple[list[EventHandler], EventHandler | None]:
        """Newest first, only `event_name`'s when it is not empty; the second
        value is the page's last handler when more follow."""
        query = select(handlers).where(handlers.c.platform_id == platform_id)
        if event_name:
            query = query.where(handlers.c.event_name == event_name)
        query = keyset_page(query, handlers.c.created_at, handlers.c.id, page, newest_first=True)
        async with database_errors(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return split_page([handler_from_row(row) for row in rows], page.size)

    async def update_handler(
        self, platform_id: str, handler_id: str, change: Callable[[EventHandler], EventHandler]
    ) -> EventHandler:
        """Applies `change` under a row lock and stores the result."""
        async with database_errors(), self._engine.begin() as conn:
            before = await _get(conn, platform_id, handler_id, lock=True)
            after = change(before)
            await rewrite(conn, handlers, handler_id, handler_values(after))
        return after

    async def delete_handler(self, platform_id: str, handler_id: str) -> None:
        """Deletes the handler and, by cascade, the executions it created."""
        if is_valid_id(handler_id):
            async with database_errors(), self._engine.begin() as conn:
                result = await conn.execute(
                    delete(handlers).where(
                        handlers.c.id == handler_id, handlers.c.platform_id == platform_id
                    )
                )
            if result.rowcount:
                return
        raise NotFound("event handler", handler_id)


async def _get(
    conn: AsyncConnection, platform_id: str, handler_id: str, *, lock: bool
) -> EventHandler:
    row = await get_owned(conn, handlers, platform_id, handler_id, "event handler", lock=lock)
    return handler_from_row(row)


def _ms(value: timedelta) -> int:
    return value // timedelta(milliseconds=1)


def handler_values(handler: EventHandler) -> dict[str, Any]:
    """Every column of an event handler row."""
    spec = handler.spec
    return {
        "id": handler.id,
        "platform_id": handler.platform_id,
        "event_name": spec.event_name,
        "handler_name": spec.handler_name,
        "handler_type": spec.handler_type.value,
        "payload": spec.payload,
        "enabled": spec.enabled,
        "priority": int(spec.priority),
        "max_retries": spec.max_retries,
        "retry_delay_ms": _ms(spec.retry_delay),
        "timeout_ms": _ms(spec.timeout),
        **concurrency_values(spec.concurrency, spec.rate_limit_key),
        "created_at": handler.created_at,
        "updated_at": handler.updated_at,
    }


def handler_from_row(row: Row[Any]) -> EventHandler:
    spec = EventHandlerSpec(
        event_name=row.event_name,
        handler_name=row.handler_name,
        handler_type=HandlerType(row.handler_type),
        payload=row.payload,
        enabled=bool(row.enabled),
        priority=Priority(row.priority),
        max_retries=row.max_retries,
        retry_delay=timedelta(milliseconds=row.retry_delay_ms),
        timeout=timedelta(milliseconds=row.timeout_ms),
        concurrency=concurrency_from_row(row._mapping),
        rate_limit_key=row.rate_limit_key or "",
    )
    return EventHandler(
        id=row.id,
        platform_id=row.platform_id,
        spec=spec,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
