"""GateStore, and the edges JobStore keeps: what a gate pass reads of the
dependencies, what it writes, and what it leaves to another replica."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from cronstream_server.core import executions as execution_rules
from cronstream_server.core.dependencies import (
    CHECK_ONE_JOB,
    GateBatch,
    GatePlan,
    SlotSeen,
    plan,
)
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger, HealthState
from cronstream_server.core.errors import InvalidArgument
from cronstream_server.core.executions import Execution
from cronstream_server.core.jobs import Job
from cronstream_server.store.gate import SqlGateStore
from cronstream_server.store.tables import alerts, job_executions
from sqlalchemy import select

from tests.contract.conftest import HOUR, World

MINUTE = timedelta(minutes=1)


async def pair(world: World, **report: object) -> tuple[Job, Job, datetime]:
    """export (its next slot an hour away) and report depending on it; the instant t."""
    now = await world.now()
    export = await world.job(now + HOUR)
    follower = await world.job(now + HOUR, depends_on=(export.id,), **report)
    return export, follower, now - MINUTE


async def slot(
    world: World,
    job: Job,
    at: datetime,
    status: ExecutionStatus,
    trigger: ExecutionTrigger = ExecutionTrigger.SCHEDULE,
) -> Execution:
    made = world.execution(job, at=at, status=status, trigger=trigger)
    await world.executions.insert_many([made])
    return made


async def waiting(world: World, job: Job, at: datetime) -> Execution:
    fired = world.execution(job, at=at, trigger=ExecutionTrigger.SCHEDULE)
    made = execution_rules.waiting(fired, job)
    await world.executions.insert_many([made])
    return made


async def test_a_slot_whose_dependency_succeeded_is_released(world: World) -> None:
    export, report, t = await pair(world)
    await slot(world, export, t, ExecutionStatus.SUCCESS)
    held = await waiting(world, report, t)

    gated = await SqlGateStore(world.engine).gate(10, None, plan)

    assert gated.seen == 1 and gated.last == (held.wait_deadline, held.id)
    [released] = gated.plan.released
    row = await world.row(held.id)
    assert row.status == "pending"
    assert row.due_at == released.due_at == gated.now  # due when released
    assert not row.waiting_for


async def test_the_latest_slot_at_or_before_the_instant_decides(world: World) -> None:
    export, report, t = await pair(world)
    await slot(world, export, t - HOUR, ExecutionStatus.FAILED)  # older: does not count
    # A backfilled slot is a slot (one execution per instant, whichever made it).
    await slot(world, export, t, ExecutionStatus.SUCCESS, ExecutionTrigger.BACKFILL)
    await slot(world, export, t + MINUTE, ExecutionStatus.FAILED)  # later: does not count
    await slot(world, export, t - MINUTE, ExecutionStatus.SUCCESS, ExecutionTrigger.MANUAL)
    held = await waiting(world, report, t)
    seen: list[GateBatch] = []

    def judged(batch: GateBatch) -> GatePlan:
        seen.append(batch)
        return GatePlan()

    await SqlGateStore(world.engine).gate(10, None, judged)

    [upstream] = seen[0].upstream[held.id]
    assert (upstream.job_id, upstream.next_run) == (export.id, export.next_run)
    assert upstream.latest == SlotSeen(t, ExecutionStatus.SUCCESS)
    assert (await world.row(held.id)).status == "waiting"  # an empty plan writes nothing


async def test_past_its_deadline_a_held_slot_is_skipped_and_its_alert_opened(
    world: World,
) -> None:
    export, report, t = await pair(world, max_wait=timedelta(seconds=30))
    await slot(world, export, t, ExecutionStatus.FAILED)
    held = await waiting(world, report, t)

    gated = await SqlGateStore(world.engine).gate(10, None, plan)

    [miss] = gated.plan.missed
    row = await world.row(held.id)
    assert (row.status, row.error, row.completed_at) == ("skipped", miss.reason, gated.now)
    assert miss.reason.startswith(f"missed: waited 30s for contract ({export.id}): its ")
    async with world.engine.connect() as conn:
        query = select(alerts.c.kind, alerts.c.state, alerts.c.execution_id).where(
            alerts.c.job_id == report.id
        )
        assert (await conn.execute(query)).all() == [(HealthState.MISSED.value, "open", held.id)]


async def test_before_its_deadline_it_keeps_waiting_for_what_still_holds(world: World) -> None:
    export, report, t = await pair(world)
    await slot(world, export, t, ExecutionStatus.RUNNING)
    held = await waiting(world, report, t)
    async with world.engine.begin() as conn:  # as if the gate had found nothing holding
        await conn.execute(
            job_executions.update().where(job_executions.c.id == held.id).values(waiting_for=[])
        )

    gated = await SqlGateStore(world.engine).gate(10, None, plan)

    assert [ids for _, ids in gated.plan.waiting] == [(export.id,)]
    row = await world.row(held.id)
    assert (row.status, row.waiting_for) == ("waiting", [export.id])


async def test_a_pass_pages_by_deadline_and_skips_what_another_transaction_holds(
    world: World,
) -> None:
    export, report, t = await pair(world)
    first = await waiting(world, report, t)
    second = await waiting(world, report, t + timedelta(seconds=1))
    gate = SqlGateStore(world.engine)
    page = await gate.gate(1, None, lambda _: GatePlan())
    assert page.last == (first.wait_deadline, first.id)
    rest = await gate.gate(1, page.last, lambda _: GatePlan())
    assert rest.last == (second.wait_deadline, second.id)
    if not world.side_by_side:
        pytest.skip("SQLite has one writer at a time: there is no row lock to skip")
    async with world.engine.begin() as conn:
        await conn.execute(
            select(job_executions.c.id).where(job_executions.c.id == first.id).with_for_update()
        )
        skipping = await gate.gate(10, None, lambda _: GatePlan())
    assert skipping.last == (second.wait_deadline, second.id) and skipping.seen == 1


# --- the edges JobStore keeps ----------------------------------------------------


async def test_edges_come_back_in_order_and_go_with_the_job_they_name(world: World) -> None:
    now = await world.now()
    a, b = await world.job(now + HOUR), await world.job(now + HOUR)
    follower = await world.job(now + HOUR, depends_on=(b.id, a.id))
    assert (await world.jobs.get_job(world.platform.id, follower.id)).spec.depends_on == (
        b.id,
        a.id,
    )
    await world.jobs.delete_job(world.platform.id, b.id)
    assert (await world.jobs.get_job(world.platform.id, follower.id)).spec.depends_on == (a.id,)


async def test_an_update_that_closes_a_cycle_stores_nothing(world: World) -> None:
    now = await world.now()
    upstream = await world.job(now + HOUR)
    follower = await world.job(now + HOUR, depends_on=(upstream.id,))

    def closing(job: Job) -> Job:
        return replace(job, spec=replace(job.spec, depends_on=(follower.id,)))

    with pytest.raises(InvalidArgument, match="cycle: contract"):
        await world.jobs.update_job(world.platform.id, upstream.id, closing, CHECK_ONE_JOB)
    assert (await world.jobs.get_job(world.platform.id, upstream.id)).spec.depends_on == ()
    with pytest.raises(AssertionError, match="without a graph check"):
        await world.jobs.update_job(world.platform.id, upstream.id, closing)
