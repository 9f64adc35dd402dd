"""WebhookStore and WebhookDeliveryStore, directly over the SQL adapters on
SQLite and Postgres: fan-out is idempotent and honours each webhook's types
and start; a claim holds a delivery for its lease and gives it back after;
a late attempt's record is fenced; the attempts list pages without gaps."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from cronstream_server.core.errors import NotFound
from cronstream_server.core.ids import new_id
from cronstream_server.core.paging import PageRequest
from cronstream_server.core.webhook_delivery import (
    AttemptResult,
    ClaimedDelivery,
    DeliveryStatus,
    Settled,
)
from cronstream_server.core.webhooks import Webhook, WebhookSpec
from cronstream_server.store.database import create_engine
from cronstream_server.store.tables import webhook_attempts, webhook_deliveries
from cronstream_server.store.webhook_delivery import SqlWebhookDeliveryStore
from cronstream_server.store.webhooks import SqlWebhookStore
from sqlalchemy import func, select

from tests.contract.conftest import World
from tests.webhook_helpers import add_alert_event

LEASE = timedelta(seconds=60)
OK = AttemptResult(200, "", timedelta(milliseconds=5))
BAD = AttemptResult(500, "HTTP 500", timedelta(milliseconds=5))


async def webhook(world: World, events: tuple[str, ...] = (), platform_id: str = "") -> Webhook:
    made = Webhook(
        new_id(),
        platform_id or world.platform.id,
        WebhookSpec("http://127.0.0.1:9/", events),
        await world.now(),
    )
    return await SqlWebhookStore(world.engine).create_webhook(made, "whsec_contract")


async def events(world: World, count: int, platform_id: str = "") -> list[int]:
    """`count` events of one job's alert: opened, resolved, opened..."""
    platform_id = platform_id or world.platform.id
    job = await world.job(None, platform_id=platform_id)
    cursors, alert_id = [], None
    for n in range(count):
        kind = "opened" if n % 2 == 0 else "resolved"
        cursor, alert = await add_alert_event(world.engine, platform_id, job.id, kind, alert_id)
        alert_id = alert["id"] if kind == "opened" else None
        cursors.append(cursor)
    return cursors


async def deliveries_of(world: World, hook: Webhook) -> list[tuple[int, str]]:
    async with world.engine.connect() as conn:
        query = (
            select(webhook_deliveries.c.event_cursor, webhook_deliveries.c.event_type)
            .where(webhook_deliveries.c.webhook_id == hook.id)
            .order_by(webhook_deliveries.c.event_cursor)
        )
        return [(row.event_cursor, row.event_type) for row in (await conn.execute(query)).all()]


def settled(status: DeliveryStatus, at: datetime | None = None) -> Settled:
    return Settled(status, at)


async def test_fan_out_delivers_each_event_once_to_the_webhooks_that_want_it(
    world: World,
) -> None:
    store = SqlWebhookDeliveryStore(world.engine)
    before = await events(world, 1)
    every, resolved_only = await webhook(world), await webhook(world, ("resolved",))
    other_platform = await world.admin.create_platform(f"other-{new_id()[-8:]}")
    theirs = await webhook(world, platform_id=other_platform.id)
    cursors = await events(world, 4)
    await events(world, 2, platform_id=other_platform.id)

    # Three events of each platform a pass: ours to both webhooks as they
    # want them, and the other platform's two to its own.
    assert await store.fan_out(limit=3) == 3 + 1 + 2
    assert await store.fan_out(limit=3) == 1 + 1  # our fourth, a resolution
    assert await store.fan_out(limit=3) == 0  # nothing new: nothing made twice

    assert before[0] not in [c for c, _ in await deliveries_of(world, every)]
    assert await deliveries_of(world, every) == [
        (cursors[0], "opened"),
        (cursors[1], "resolved"),
        (cursors[2], "opened"),
        (cursors[3], "resolved"),
    ]
    assert await deliveries_of(world, resolved_only) == [
        (cursors[1], "resolved"),
        (cursors[3], "resolved"),
    ]
    assert len(await deliveries_of(world, theirs)) == 2


async def test_a_claim_holds_a_delivery_for_its_lease_then_gives_it_back(world: World) -> None:
    store = SqlWebhookDeliveryStore(world.engine)
    hook = await webhook(world)
    [cursor] = await events(world, 1)
    await store.fan_out(limit=10)

    [first] = await store.claim(10, LEASE)
    assert (first.webhook_id, first.event.cursor, first.attempt) == (hook.id, cursor, 1)
    assert first.url == "http://127.0.0.1:9/" and first.secret == "whsec_contract"
    assert first.event.alert["state"] == "ALERT_STATE_OPEN"
    assert await store.claim(10, LEASE) == []  # held

    retry_at = await world.now() - timedelta(seconds=1)  # due again at once
    assert await store.record(first, BAD, lambda now: settled(DeliveryStatus.PENDING, retry_at))
    [second] = await store.claim(10, timedelta(0))  # a lease that ends at once
    assert (second.id, second.attempt) == (first.id, 2)
    [third] = await store.claim(10, LEASE)  # the second's lease ran out: it died, say
    assert third.attempt == 3

    # The second attempt ends late: stored, but the delivery is the third's.
    assert not await store.record(second, OK, lambda now: settled(DeliveryStatus.SUCCEEDED))
    assert await store.record(third, BAD, lambda now: settled(DeliveryStatus.FAILED))
    listed, _ = await SqlWebhookStore(world.engine).list_attempts(
        world.platform.id, hook.id, PageRequest(10, None)
    )
    assert [(a.attempt, a.status, a.response_code) for a in listed] == [
        (3, DeliveryStatus.FAILED, 500),
        (2, DeliveryStatus.SUCCEEDED, 200),
        (1, DeliveryStatus.PENDING, 500),
    ]
    assert listed[2].next_attempt_at == retry_at and listed[0].next_attempt_at is None
    assert await store.claim(10, timedelta(0)) == []  # failed for good


async def test_an_attempt_of_a_deleted_webhook_records_nothing(world: World) -> None:
    store = SqlWebhookDeliveryStore(world.engine)
    hook = await webhook(world)
    await events(world, 1)
    await store.fan_out(limit=10)
    [claimed] = await store.claim(10, LEASE)
    await SqlWebhookStore(world.engine).delete_webhook(world.platform.id, hook.id)
    assert not await store.record(claimed, OK, lambda now: settled(DeliveryStatus.SUCCEEDED))
    async with world.engine.connect() as conn:
        left = await conn.execute(select(func.count()).select_from(webhook_attempts))
        assert left.scalar_one() == 0
    with pytest.raises(NotFound):
        await SqlWebhookStore(world.engine).get_webhook(world.platform.id, hook.id)


async def test_the_attempts_list_pages_without_gaps_or_repeats(world: World) -> None:
    store = SqlWebhookDeliveryStore(world.engine)
    hook = await webhook(world)
    cursors = await events(world, 3)
    await store.fan_out(limit=10)
    for claimed in await store.claim(2, LEASE):  # two attempted, the third not yet
        await store.record(claimed, OK, lambda now: settled(DeliveryStatus.SUCCEEDED))
    webhooks = SqlWebhookStore(world.engine)
    seen, after = [], None
    while True:
        page, last = await webhooks.list_attempts(world.platform.id, hook.id, PageRequest(1, after))
        seen += [(a.event_cursor, a.attempt, a.status) for a in page]
        if last is None:
            break
        after = last.sort_key
    assert seen == [
        (cursors[2], 0, DeliveryStatus.PENDING),
        (cursors[1], 1, DeliveryStatus.SUCCEEDED),
        (cursors[0], 1, DeliveryStatus.SUCCEEDED),
    ]
    with pytest.raises(NotFound):
        await webhooks.list_attempts(new_id(), hook.id, PageRequest(10, None))  # not its platform


async def test_replicas_side_by_side_fan_out_and_claim_each_delivery_once(
    world: World, database_url: str
) -> None:
    if not world.side_by_side:
        pytest.skip("SQLite has one writer at a time: there is no row lock to skip")
    await webhook(world)
    await webhook(world)
    await events(world, 40)
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        stores = [SqlWebhookDeliveryStore(engine) for engine in engines]
        made = await asyncio.gather(*(store.fan_out(limit=500) for store in stores))
        made += await asyncio.gather(*(store.fan_out(limit=500) for store in stores))
        assert sum(made) == 80
        claimed = await asyncio.gather(*(store.claim(30, LEASE) for store in stores))
    finally:
        for engine in engines:
            await engine.dispose()
    ids = [delivery.id for batch in claimed for delivery in batch]
    assert len(ids) == len(set(ids)) == 80
    assert all(isinstance(delivery, ClaimedDelivery) for batch in claimed for delivery in batch)
