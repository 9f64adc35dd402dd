"""WebhookStore (core.ports) on SQL: webhooks, and the attempts of their
deliveries as ListWebhookDeliveries shows them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, literal, select, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.core.errors import NotFound
from cronstream_server.core.ids import is_valid_id
from cronstream_server.core.paging import PageRequest
from cronstream_server.core.webhook_delivery import DeliveryAttempt, DeliveryStatus
from cronstream_server.core.webhooks import Webhook, WebhookSpec
from cronstream_server.store.database import dialect_of
from cronstream_server.store.errors import database_errors
from cronstream_server.store.owned import get_owned
from cronstream_server.store.paging import keyset_page, split_page
from cronstream_server.store.queries_webhooks import last_event_cursor, lock_cursor
from cronstream_server.store.tables import (
    webhook_attempts,
    webhook_cursors,
    webhook_deliveries,
    webhooks,
)

KIND = "webhook"
deliveries = webhook_deliveries
attempts = webhook_attempts


class SqlWebhookStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    async def create_webhook(self, webhook: Webhook, secret: str) -> Webhook:
        platform_id = webhook.platform_id
        async with database_errors(), self._engine.begin() as conn:
            # The platform's fan-out cursor, made with its first webhook, and
            # locked as a fan-out locks it: a pass that read the webhooks
            # before this one commits has committed before its start is read
            # below, so the events it passed over are not this webhook's.
            await conn.execute(
                self._dialect.insert_or_skip(webhook_cursors, ["platform_id"]).values(
                    platform_id=platform_id, last_cursor=0
                )
            )
            await lock_cursor(conn, platform_id, wait=True)
            # A writer holding the platform's event lock draws a cursor above
            # this one and commits later: the new webhook gets its event.
            starts_after = await last_event_cursor(conn, platform_id)
            values = {**_values(webhook), "secret": secret, "starts_after": starts_after}
            await conn.execute(webhooks.insert().values(values))
        return webhook

    async def get_webhook(self, platform_id: str, webhook_id: str) -> Webhook:
        async with database_errors(), self._engine.connect() as conn:
            return await _get(conn, platform_id, webhook_id)

    async def list_webhooks(
        self, platform_id: str, page: PageRequest
    ) -> tuple[list[Webhook], Webhook | None]:
        query = select(webhooks).where(webhooks.c.platform_id == platform_id)
        query = keyset_page(query, webhooks.c.created_at, webhooks.c.id, page, newest_first=True)
        async with database_errors(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return split_page([webhook_from_row(row) for row in rows], page.size)

    async def delete_webhook(self, platform_id: str, webhook_id: str) -> None:
        if is_valid_id(webhook_id):
            async with database_errors(), self._engine.begin() as conn:
                result = await conn.execute(
                    delete(webhooks).where(
                        webhooks.c.id == webhook_id, webhooks.c.platform_id == platform_id
                    )
                )
            if result.rowcount:
                return
        raise NotFound(KIND, webhook_id)

    async def list_attempts(
        self, platform_id: str, webhook_id: str, page: PageRequest
    ) -> tuple[list[DeliveryAttempt], DeliveryAttempt | None]:
        async with database_errors(), self._engine.connect() as conn:
            await _get(conn, platform_id, webhook_id)  # NotFound unless the platform's
            rows = (await conn.execute(_attempts_query(webhook_id, page))).all()
        return split_page([attempt_from_row(row) for row in rows], page.size)


async def _get(conn: AsyncConnection, platform_id: str, webhook_id: str) -> Webhook:
    return webhook_from_row(
        await get_owned(conn, webhooks, platform_id, webhook_id, KIND, lock=False)
    )


def _attempts_query(webhook_id: str, page: PageRequest) -> Any:
    """Every attempt of the webhook's deliveries, and a row of its own for a
    delivery without one (the outer join's NULLs: attempt 0). Newest event
    first, then latest attempt first, along the unique index on
    (webhook_id, event_cursor)."""
    number = func.coalesce(attempts.c.attempt, 0)
    query = (
        select(
            deliveries.c.id,
            deliveries.c.webhook_id,
            deliveries.c.event_cursor,
            deliveries.c.event_type,
            deliveries.c.alert_id,
            deliveries.c.status.label("delivery_status"),
            deliveries.c.next_attempt_at.label("delivery_next_attempt_at"),
            number.label("number"),
            attempts.c.status,
            attempts.c.response_code,
            attempts.c.error,
            attempts.c.attempted_at,
            attempts.c.duration_ms,
            attempts.c.next_attempt_at,
        )
        .select_from(deliveries.outerjoin(attempts, attempts.c.delivery_id == deliveries.c.id))
        .where(deliveries.c.webhook_id == webhook_id)
    )
    if page.after is not None:
        cursor, attempt = int(page.after[0]), int(page.after[1])
        query = query.where(
            tuple_(deliveries.c.event_cursor, number) < tuple_(literal(cursor), literal(attempt))
        )
    return query.order_by(deliveries.c.event_cursor.desc(), number.desc()).limit(page.size + 1)


def attempt_from_row(row: Row[Any]) -> DeliveryAttempt:
    r = row._mapping
    made = r["status"] is not None  # an attempt row, not a delivery awaiting its first
    return DeliveryAttempt(
        delivery_id=r["id"],
        webhook_id=r["webhook_id"],
        event_cursor=int(r["event_cursor"]),
        event_type=r["event_type"],
        alert_id=r["alert_id"],
        attempt=int(r["number"]),
        status=DeliveryStatus(r["status"] if made else r["delivery_status"]),
        response_code=r["response_code"],
        error=r["error"] or "",
        attempted_at=r["attempted_at"],
        next_attempt_at=r["next_attempt_at"] if made else r["delivery_next_attempt_at"],
        duration=timedelta(milliseconds=r["duration_ms"]) if made else None,
    )


def _values(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "platform_id": webhook.platform_id,
        "url": webhook.spec.url,
        "events": list(webhook.spec.events),
        "description": webhook.spec.description,
        "created_at": webhook.created_at,
    }


def webhook_from_row(row: Row[Any]) -> Webhook:
    spec = WebhookSpec(url=row.url, events=tuple(row.events), description=row.description)
    return Webhook(id=row.id, platform_id=row.platform_id, spec=spec, created_at=row.created_at)
