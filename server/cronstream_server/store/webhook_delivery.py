"""WebhookDeliveryStore (core.ports) on SQL: fan-out, claim and record, one
short transaction each (the SQL and why it is right: store.queries_webhooks)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from cronstream_server.core.webhook_delivery import (
    AttemptResult,
    ClaimedDelivery,
    Settled,
    fan_out,
)
from cronstream_server.store import queries_webhooks as q
from cronstream_server.store.clock import database_now
from cronstream_server.store.database import dialect_of
from cronstream_server.store.errors import database_errors


class SqlWebhookDeliveryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    async def fan_out(self, limit: int) -> int:
        async with database_errors(), self._engine.connect() as conn:
            lagging = await q.lagging_platforms(conn)
        made = 0
        for platform_id in lagging:
            made += await self._fan_out_platform(platform_id, limit)
        return made

    async def _fan_out_platform(self, platform_id: str, limit: int) -> int:
        async with database_errors(), self._engine.begin() as conn:
            last = await q.lock_cursor(conn, platform_id)
            if last is None:
                return 0  # another replica is at it
            subscribers = await q.subscribers(conn, platform_id)
            # Events before every webhook's start need no reading: a
            # platform's first webhook in a while skips its history at once.
            since = max(last, min((s.starts_after for s in subscribers), default=last))
            events = await q.events_after(conn, platform_id, since, limit)
            if not events:
                if since > last:
                    await q.advance_cursor(conn, platform_id, since)
                return 0
            made = fan_out(events, subscribers)
            now = await database_now(conn, self._dialect)
            await q.insert_deliveries(conn, self._dialect, made, now)
            await q.advance_cursor(conn, platform_id, events[-1].cursor)
        return len(made)

    async def claim(self, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
        async with database_errors(), self._engine.begin() as conn:
            now = await database_now(conn, self._dialect)
            rows = await q.due(conn, now, limit)
            if rows:
                await q.take(conn, [row.id for row in rows], q.lease_end(now, lease))
        return [q.claimed_from_row(row, now) for row in rows]

    async def record(
        self,
        claimed: ClaimedDelivery,
        result: AttemptResult,
        decide: Callable[[datetime], Settled],
    ) -> bool:
        async with database_errors(), self._engine.begin() as conn:
            now = await database_now(conn, self._dialect)
            settled = decide(now)
            current = await q.settle_delivery(conn, claimed, settled, now)
            if current or await q.delivery_exists(conn, claimed.id):
                await q.insert_attempt(conn, claimed, result, settled)
        return current
