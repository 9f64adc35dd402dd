"""The SQL of webhook delivery: fan-out, claim and record
(`store.webhook_delivery` composes them into transactions).

Fan-out follows each platform's alert events by cursor (`webhook_cursors`).
A platform's events commit in cursor order (store.queries_alerts holds the
platform's advisory lock from drawing a cursor to commit), so reading
`cursor > last` passes over none. Across platforms they need not, which is
why the bookkeeping is per platform. One replica at a time fans a platform
out: its cursor row is locked `FOR UPDATE SKIP LOCKED`, and the others move
on to other platforms; the unique (webhook_id, event_cursor) makes a second
fan-out of the same event a no-op all the same. Creating a webhook takes the
same lock (waiting for it), so a pass never reads the webhooks before a new
one commits and the events after that one's start was read.

The claim locks due rows `FOR NO KEY UPDATE SKIP LOCKED` (as the dispatch
claim does, store.queries_dispatch): side-by-side claims get different rows,
and the lock does not conflict with the KEY SHARE lock that inserting an
attempt (whose foreign key names the delivery) takes. SQLite renders no row
lock and needs none: every transaction holds its one write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, literal_column, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.core.webhook_delivery import (
    AttemptResult,
    ClaimedDelivery,
    DeliveryStatus,
    NewDelivery,
    Settled,
    StoredEvent,
    Subscriber,
)
from cronstream_server.store.database import Dialect
from cronstream_server.store.tables import (
    alert_events,
    webhook_attempts,
    webhook_cursors,
    webhook_deliveries,
    webhooks,
)

deliveries = webhook_deliveries
attempts = webhook_attempts
cursors = webhook_cursors
# A literal, not a parameter: the planner can then match the partial index
# ix_webhook_deliveries_due (status = 'pending') in every plan.
IS_PENDING = deliveries.c.status == literal_column(f"'{DeliveryStatus.PENDING.value}'")
MAX_ERROR_LENGTH = 1000


# --- fan-out -----------------------------------------------------------------


async def last_event_cursor(conn: AsyncConnection, platform_id: str) -> int:
    """The platform's last committed alert event cursor (0 before the first):
    one probe of ix_alert_events_platform_id_cursor."""
    query = select(func.max(alert_events.c.cursor)).where(alert_events.c.platform_id == platform_id)
    found = (await conn.execute(query)).scalar_one_or_none()
    return int(found or 0)


async def lagging_platforms(conn: AsyncConnection) -> list[str]:
    """Platforms with an alert event past their fan-out cursor; one index
    probe of alert_events per platform that ever had a webhook."""
    newer = exists().where(
        alert_events.c.platform_id == cursors.c.platform_id,
        alert_events.c.cursor > cursors.c.last_cursor,
    )
    return list((await conn.execute(select(cursors.c.platform_id).where(newer))).scalars())


async def lock_cursor(conn: AsyncConnection, platform_id: str, *, wait: bool = False) -> int | None:
    """The platform's fan-out cursor, locked; None when there is none, or
    (unless `wait`) while another transaction holds it: a fan-out skips a
    platform another replica is fanning out; a new webhook waits for it."""
    query = (
        select(cursors.c.last_cursor)
        .where(cursors.c.platform_id == platform_id)
        .with_for_update(skip_locked=not wait)
    )
    found = (await conn.execute(query)).scalar_one_or_none()
    return None if found is None else int(found)


async def subscribers(conn: AsyncConnection, platform_id: str) -> list[Subscriber]:
    query = select(webhooks.c.id, webhooks.c.events, webhooks.c.starts_after).where(
        webhooks.c.platform_id == platform_id
    )
    return [
        Subscriber(row.id, tuple(row.events), int(row.starts_after))
        for row in (await conn.execute(query)).all()
    ]


async def events_after(
    conn: AsyncConnection, platform_id: str, cursor: int, limit: int
) -> list[StoredEvent]:
    """The platform's next `limit` events after `cursor`, in cursor order."""
    e = alert_events
    query = (
        select(e.c.cursor, e.c.type, e.c.alert_id, e.c.alert)
        .where(e.c.platform_id == platform_id, e.c.cursor > cursor)
        .order_by(e.c.cursor)
        .limit(limit)
    )
    return [
        StoredEvent(int(row.cursor), row.type, row.alert_id, row.alert)
        for row in (await conn.execute(query)).all()
    ]


async def insert_deliveries(
    conn: AsyncConnection, dialect: Dialect, made: Sequence[NewDelivery], now: datetime
) -> None:
    """New pending deliveries, due now; one a (webhook, event) already has is skipped."""
    if not made:
        return
    rows = [
        {
            "id": delivery.id,
            "webhook_id": delivery.webhook_id,
            "event_cursor": delivery.event.cursor,
            "event_type": delivery.event.type,
            "alert_id": delivery.event.alert_id,
            "alert": delivery.event.alert,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for delivery in made
    ]
    await conn.execute(dialect.insert_or_skip(deliveries, ["webhook_id", "event_cursor"]), rows)


async def advance_cursor(conn: AsyncConnection, platform_id: str, cursor: int) -> None:
    await conn.execute(
        update(cursors).where(cursors.c.platform_id == platform_id).values(last_cursor=cursor)
    )


# --- claim ----------------------------------------------------------------------


async def due(conn: AsyncConnection, now: datetime, limit: int) -> list[Row[Any]]:
    """Up to `limit` pending deliveries due by `now`, earliest due first,
    locked until the claim commits: a range scan of ix_webhook_deliveries_due
    that stops at its LIMIT. SKIP LOCKED leaves rows another replica is
    claiming to it."""
    query = (
        select(
            deliveries,
            webhooks.c.url,
            webhooks.c.secret,
        )
        .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
        .where(IS_PENDING, deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True, of=deliveries)
    )
    return list((await conn.execute(query)).all())


async def take(conn: AsyncConnection, ids: Sequence[str], until: datetime) -> None:
    """The claim's write, on rows `due` locked in this transaction: one more
    attempt, and none other before `until` (the lease)."""
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(ids))
        .values(attempts=deliveries.c.attempts + 1, next_attempt_at=until)
    )


def claimed_from_row(row: Row[Any], now: datetime) -> ClaimedDelivery:
    r = row._mapping
    return ClaimedDelivery(
        id=r["id"],
        webhook_id=r["webhook_id"],
        url=r["url"],
        secret=r["secret"],
        event=StoredEvent(int(r["event_cursor"]), r["event_type"], r["alert_id"], r["alert"]),
        attempt=int(r["attempts"]) + 1,
        created_at=r["created_at"],
        claimed_at=now,
    )


def lease_end(now: datetime, lease: timedelta) -> datetime:
    return now + lease


# --- record -----------------------------------------------------------------------


async def settle_delivery(
    conn: AsyncConnection, claimed: ClaimedDelivery, settled: Settled, now: datetime
) -> bool:
    """The delivery's state after `claimed`'s attempt. Fenced: only while
    that attempt is its latest and it is pending, so an attempt whose lease
    ran out (another replica claimed the delivery since) changes nothing."""
    result = await conn.execute(
        update(deliveries)
        .where(
            deliveries.c.id == claimed.id,
            deliveries.c.attempts == claimed.attempt,
            IS_PENDING,
        )
        .values(status=settled.status.value, next_attempt_at=settled.next_attempt_at or now)
    )
    return bool(result.rowcount)


async def delivery_exists(conn: AsyncConnection, delivery_id: str) -> bool:
    """False once the delivery went with its webhook."""
    query = select(deliveries.c.id).where(deliveries.c.id == delivery_id)
    return (await conn.execute(query)).first() is not None


async def insert_attempt(
    conn: AsyncConnection, claimed: ClaimedDelivery, result: AttemptResult, settled: Settled
) -> None:
    await conn.execute(
        attempts.insert().values(
            delivery_id=claimed.id,
            attempt=claimed.attempt,
            status=settled.status.value,
            response_code=result.response_code,
            error=result.error[:MAX_ERROR_LENGTH],
            attempted_at=claimed.claimed_at,
            duration_ms=result.duration // timedelta(milliseconds=1),
            next_attempt_at=settled.next_attempt_at,
        )
    )
