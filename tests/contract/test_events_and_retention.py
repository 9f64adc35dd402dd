"""EventDeliveryStore (fan-out, idempotent per request id), EventStore, and
RetentionStore (only finished executions older than the cut-off go)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from cronstream_server.core.alerts import Opening
from cronstream_server.core.enums import ExecutionStatus, HealthState, JobStatus, LogLevel
from cronstream_server.core.errors import NotFound
from cronstream_server.core.events import Event, EventHandler, EventHandlerSpec
from cronstream_server.core.executions import ExecutionLog
from cronstream_server.core.ids import new_id
from cronstream_server.core.paging import PageRequest
from cronstream_server.core.triggers import EventTrigger
from cronstream_server.store.database import dialect_of
from cronstream_server.store.queries_alerts import open_alerts, resolve_alerts
from cronstream_server.store.retention import ADVISORY_LOCK_KEY
from cronstream_server.store.tables import (
    alert_events,
    alerts,
    event_deliveries,
    job_execution_logs,
    webhook_deliveries,
    webhooks,
)
from sqlalchemy import func, select

from tests.contract.conftest import HOUR, World

DAY = timedelta(days=1)


async def handler(
    world: World, name: str = "signup", *, enabled: bool = True, platform_id: str | None = None
) -> EventHandler:
    now = await world.now()
    made = EventHandler(
        new_id(),
        platform_id or world.platform.id,
        EventHandlerSpec(name, "h", enabled=enabled, payload={"from": "handler"}),
        now,
        now,
    )
    return await world.events.create_handler(made)


def event(world: World, at: datetime, name: str = "signup", request_id: str | None = None) -> Event:
    return Event(world.platform.id, name, {"user": 1}, request_id, at)


async def test_an_event_fans_out_to_its_listeners_oldest_first(world: World) -> None:
    now = await world.now()
    first = await handler(world)
    await handler(world, enabled=False)
    await handler(world, "other")
    other = await world.admin.create_platform(f"other-{new_id()[-8:]}")
    await handler(world, platform_id=other.id)
    listening = await world.job(None, trigger=EventTrigger("signup"))
    await world.job(None, trigger=EventTrigger("signup"), status=JobStatus.PAUSED)
    second = await handler(world)

    [delivered] = await world.delivery.deliver([event(world, now)])

    assert delivered.created and len(delivered.execution_ids) == 3
    rows = [await world.row(execution_id) for execution_id in delivered.execution_ids]
    assert [(r.event_handler_id, r.job_id) for r in rows] == [
        (first.id, None),
        (second.id, None),
        (None, listening.id),
    ]
    assert {(r.status, r.due_at) for r in rows} == {("pending", now)}
    assert rows[0].payload == {"from": "handler", "user": 1}
    assert (await world.jobs.get_job(world.platform.id, listening.id)).executions_count == 1


async def test_a_request_id_is_delivered_once(world: World) -> None:
    now = await world.now()
    await handler(world)

    first, same_batch, unkeyed = await world.delivery.deliver(
        [event(world, now, request_id="r1"), event(world, now, request_id="r1"), event(world, now)]
    )
    [later] = await world.delivery.deliver([event(world, now, request_id="r1")])

    assert (first.created, same_batch.created, later.created, unkeyed.created) == (
        True,
        False,
        False,
        True,
    )
    assert same_batch.execution_ids == later.execution_ids == first.execution_ids
    assert unkeyed.execution_ids != first.execution_ids
    async with world.engine.connect() as conn:
        count = select(func.count()).select_from(event_deliveries)
        assert (await conn.execute(count)).scalar_one() == 1


async def test_concurrent_deliveries_of_one_request_id_create_once(
    world: World,
) -> None:
    now = await world.now()
    await handler(world)

    results = await asyncio.gather(
        *(world.delivery.deliver([event(world, now, request_id="same")]) for _ in range(4))
    )

    delivered = [r for [r] in results]
    assert sum(d.created for d in delivered) == 1
    assert len({tuple(d.execution_ids) for d in delivered}) == 1


async def test_event_handlers_are_the_platforms_own(world: World) -> None:
    made = await handler(world)
    other = await world.admin.create_platform(f"other-{new_id()[-8:]}")

    assert await world.events.get_handler(world.platform.id, made.id) == made
    with pytest.raises(NotFound):
        await world.events.get_handler(other.id, made.id)
    renamed = await world.events.update_handler(
        world.platform.id, made.id, lambda h: replace(h, spec=replace(h.spec, event_name="renamed"))
    )
    page, last = await world.events.list_handlers(
        world.platform.id, "renamed", PageRequest(10, None)
    )
    assert page == [renamed] and last is None
    await world.events.delete_handler(world.platform.id, made.id)
    with pytest.raises(NotFound):
        await world.events.delete_handler(world.platform.id, made.id)


async def test_retention_deletes_only_finished_executions_older_than_the_cutoff(
    world: World,
) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    old: dict[str, ExecutionStatus] = {}
    for status in (ExecutionStatus.SUCCESS, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED):
        made = await world.pending(job, now - 3 * DAY, status=status, completed_at=now - 3 * DAY)
        old[made.id] = status
    young = await world.pending(
        job, now - DAY, status=ExecutionStatus.SUCCESS, completed_at=now - DAY
    )
    waiting = await world.pending(job, now - 3 * DAY)
    running = await world.running(job)
    await world.dispatch.add_logs([ExecutionLog(i, now, LogLevel.INFO, "x", 1) for i in old])

    first = await world.retention.delete_finished(2 * DAY, 2)
    second = await world.retention.delete_finished(2 * DAY, 2)
    third = await world.retention.delete_finished(2 * DAY, 2)

    assert (first, second, third) == (2, 1, 0)
    left = {row.id for row in await world.rows_of(job)}
    assert left == {young.id, waiting.id, running.execution.id}
    async with world.engine.connect() as conn:
        logs = select(func.count()).select_from(job_execution_logs)
        assert (await conn.execute(logs)).scalar_one() == 0


async def test_a_replica_that_finds_another_deleting_skips_its_turn(world: World) -> None:
    if not dialect_of(world.engine).advisory_locks:
        pytest.skip("no advisory locks: one writer at a time, there is no turn to skip")
    now = await world.now()
    job = await world.job(now + HOUR)
    old = now - 3 * DAY
    await world.pending(job, old, status=ExecutionStatus.SUCCESS, completed_at=old)
    async with world.engine.connect() as other:
        await other.begin()
        await other.execute(select(func.pg_try_advisory_xact_lock(ADVISORY_LOCK_KEY)))
        skipped = await asyncio.wait_for(world.retention.delete_finished(2 * DAY, 10), 5.0)
        await other.rollback()

    assert skipped == 0
    assert await world.retention.delete_finished(2 * DAY, 10) == 1


async def test_old_delivery_records_go_and_their_request_ids_may_be_used_again(
    world: World,
) -> None:
    now = await world.now()
    await handler(world)
    [old] = await world.delivery.deliver([event(world, now - 3 * DAY, request_id="r")])
    [recent] = await world.delivery.deliver([event(world, now, request_id="s")])

    assert await world.retention.delete_old_deliveries(2 * DAY, 10) == 1
    assert await world.retention.delete_old_deliveries(2 * DAY, 10) == 0

    [again] = await world.delivery.deliver([event(world, now, request_id="r")])
    [repeat] = await world.delivery.deliver([event(world, now, request_id="s")])
    assert again.created and again.execution_ids != old.execution_ids
    assert not repeat.created and repeat.execution_ids == recent.execution_ids


async def test_resolved_alerts_older_than_the_cutoff_go_with_their_events(world: World) -> None:
    now = await world.now()
    jobs = [await world.job(now + HOUR) for _ in range(3)]
    dialect = dialect_of(world.engine)

    def failing(job_id: str) -> Opening:
        return Opening(world.platform.id, job_id, "j", "h", HealthState.FAILING, "failing")

    async with world.engine.begin() as conn:
        await open_alerts(conn, dialect, [failing(j.id) for j in jobs], now - 4 * DAY)
        await resolve_alerts(conn, dialect, [(jobs[0].id, HealthState.FAILING)], now - 3 * DAY)
        await resolve_alerts(conn, dialect, [(jobs[1].id, HealthState.FAILING)], now - DAY)
    # jobs[2]'s alert is open: kept whatever its age.

    assert await world.retention.delete_old_alerts(2 * DAY, 10) == 1
    assert await world.retention.delete_old_alerts(2 * DAY, 10) == 0
    async with world.engine.connect() as conn:
        left = {r.job_id for r in (await conn.execute(select(alerts))).all()}
        events = (await conn.execute(select(func.count()).select_from(alert_events))).scalar_one()
    assert left == {jobs[1].id, jobs[2].id}
    assert events == 3  # jobs[1] opened and resolved, jobs[2] opened


async def test_webhook_deliveries_that_ended_long_ago_go_with_their_attempts(
    world: World,
) -> None:
    now = await world.now()
    webhook_id = new_id()
    async with world.engine.begin() as conn:
        await conn.execute(
            webhooks.insert().values(
                id=webhook_id, platform_id=world.platform.id, url="http://127.0.0.1:9/", events=[],
                secret="whsec_x", starts_after=0, created_at=now - 5 * DAY,
            )
        )  # fmt: skip
        for cursor, (status, made) in enumerate(
            [("succeeded", now - 3 * DAY), ("failed", now - 3 * DAY),
             ("pending", now - 3 * DAY), ("succeeded", now - DAY)],
            start=1,
        ):  # fmt: skip
            await conn.execute(
                webhook_deliveries.insert().values(
                    id=new_id(), webhook_id=webhook_id, event_cursor=cursor, event_type="opened",
                    alert_id=new_id(), alert={}, status=status, attempts=1,
                    next_attempt_at=made, created_at=made,
                )
            )  # fmt: skip

    assert await world.retention.delete_old_webhook_deliveries(2 * DAY, 10) == 2
    async with world.engine.connect() as conn:
        left = (await conn.execute(select(webhook_deliveries.c.event_cursor))).scalars().all()
    assert sorted(left) == [3, 4]  # the pending one and the young one
