"""TickerStore: what `tick` claims, what it writes, and what it never does."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from cronstream_server.core import executions as execution_rules
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger, JobStatus, OverlapPolicy
from cronstream_server.core.fairness import TickLane
from cronstream_server.core.firing import Outstanding
from cronstream_server.core.ports import DueJobs, JobMove, TickPlan
from cronstream_server.store.database import create_engine
from cronstream_server.store.tables import scheduled_jobs
from cronstream_server.store.ticker import SqlTickerStore
from sqlalchemy import select, update

from tests.contract.conftest import HOUR, World, moving_on

MINUTE = timedelta(minutes=1)


def nothing(due: DueJobs) -> TickPlan:
    return TickPlan()


async def test_claims_only_active_jobs_that_are_due_oldest_first(world: World) -> None:
    now = await world.now()
    older = await world.job(now - 5 * MINUTE)
    due = await world.job(now - MINUTE)
    await world.job(now + HOUR)
    await world.job(now - MINUTE, status=JobStatus.PAUSED)
    await world.job(None, status=JobStatus.COMPLETED)
    seen: list[DueJobs] = []

    ticked = await world.ticker.tick(timedelta(0), 10, moving_on(seen))

    [claim] = seen
    assert [job.id for job in claim.jobs] == [older.id, due.id]
    assert ticked.claimed == 2
    assert claim.now == ticked.now and claim.horizon == ticked.now
    assert now <= ticked.now < now + MINUTE  # the database's clock


async def test_claims_at_most_the_limit(world: World) -> None:
    now = await world.now()
    jobs = [await world.job(now - (5 - i) * MINUTE) for i in range(5)]
    seen: list[DueJobs] = []

    assert (await world.ticker.tick(timedelta(0), 2, moving_on(seen))).claimed == 2
    assert [job.id for job in seen[0].jobs] == [jobs[0].id, jobs[1].id]


async def test_a_batch_is_shared_between_platforms_so_a_burst_does_not_crowd_out_another(
    world: World,
) -> None:
    """Platform A has 30 jobs due, all older than platform B's 3: a batch of
    10 takes B's 3 and A's 7 oldest, not A's 10 oldest (core.fairness)."""
    now = await world.now()
    bursting = [await world.job(now - 10 * MINUTE + i * timedelta(seconds=1)) for i in range(30)]
    other = await world.admin.create_platform(f"steady-{now.timestamp()}")
    steady = [await world.job(now - MINUTE, platform_id=other.id) for _ in range(3)]
    seen: list[DueJobs] = []

    assert (await world.ticker.tick(timedelta(0), 10, moving_on(seen))).claimed == 10

    claimed = {job.id for job in seen[0].jobs}
    assert {job.id for job in steady} <= claimed
    assert claimed - {job.id for job in steady} == {job.id for job in bursting[:7]}


async def test_the_main_lane_takes_a_cap_of_each_platform_and_the_bulk_lane_the_bursting_ones(
    world: World,
) -> None:
    """A has 30 jobs due, B 3 (engine.ticker's lanes): a main-lane pass with a
    cap of 5 takes A's 5 oldest and B's 3 and reads A's demand as bursting;
    the bulk lane then takes A's alone, and the main lane leaves A's out."""
    now = await world.now()
    bursting = [await world.job(now - 10 * MINUTE + i * timedelta(seconds=1)) for i in range(30)]
    other = await world.admin.create_platform(f"steady-{now.timestamp()}")
    steady = [await world.job(now - MINUTE, platform_id=other.id) for _ in range(3)]
    a = world.platform.id
    seen: list[DueJobs] = []

    main = await world.ticker.tick(timedelta(0), 10, moving_on(seen), lane=TickLane(cap=5))
    assert {job.id for job in seen[0].jobs} == {j.id for j in bursting[:5] + steady}
    assert main.demand == {a: 10, other.id: 3}  # counted up to the limit
    assert TickLane(cap=5).bursting(main.demand) == {a}

    bulk = TickLane(frozenset({a}), bulk=True)
    assert (await world.ticker.tick(timedelta(0), 10, moving_on(seen), lane=bulk)).claimed == 10
    assert [job.id for job in seen[1].jobs] == [job.id for job in bursting[5:15]]

    beside = TickLane(frozenset({a}), bulk=False, cap=5)
    left = await world.ticker.tick(timedelta(0), 10, moving_on(seen), lane=beside)
    assert (left.claimed, left.demand) == (0, {})  # A's 15 due are the bulk lane's


async def test_the_next_run_beside_the_bursting_platforms_leaves_theirs_out(
    world: World,
) -> None:
    now = await world.now()
    sooner = await world.job(now + MINUTE)  # the bursting platform's
    other = await world.admin.create_platform(f"steady-{now.timestamp()}")
    later = await world.job(now + 5 * MINUTE, platform_id=other.id)

    beside = await world.ticker.upcoming(excluding=frozenset({world.platform.id}))
    every = await world.ticker.upcoming()

    assert beside.next_run == later.next_run
    assert every.next_run == sooner.next_run


async def test_a_platform_s_weight_sets_its_share_of_a_contended_batch(world: World) -> None:
    now = await world.now()
    heavy = await world.admin.create_platform(f"heavy-{now.timestamp()}", weight=3)
    for _ in range(20):  # 20 due on each platform: more than either's share
        await world.job(now - MINUTE)
        await world.job(now - MINUTE, platform_id=heavy.id)
    seen: list[DueJobs] = []

    await world.ticker.tick(timedelta(0), 8, moving_on(seen))

    platforms = Counter(job.platform_id for job in seen[0].jobs)
    assert platforms == {heavy.id: 6, world.platform.id: 2}


async def test_only_jobs_that_fire_ahead_are_claimed_before_their_instant(world: World) -> None:
    now = await world.now()
    ahead = await world.job(now + 30 * timedelta(seconds=1))
    waits = await world.job(now + 30 * timedelta(seconds=1), overlap=OverlapPolicy.SKIP)
    seen: list[DueJobs] = []

    await world.ticker.tick(MINUTE, 10, moving_on(seen))

    assert [job.id for job in seen[0].jobs] == [ahead.id]
    assert seen[0].horizon == seen[0].now + MINUTE
    assert (await world.jobs.get_job(world.platform.id, waits.id)).next_run == waits.next_run


async def test_claiming_nothing_decides_and_writes_nothing(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)

    def must_not_run(due: DueJobs) -> TickPlan:
        raise AssertionError("decide called with nothing claimed")

    ticked = await world.ticker.tick(MINUTE, 10, must_not_run)

    assert (ticked.claimed, ticked.recorded, ticked.cancelled_running) == (0, {}, ())
    assert await world.jobs.get_job(world.platform.id, job.id) == job


async def test_the_plan_is_written_with_the_moves(world: World) -> None:
    now = await world.now()
    job = await world.job(now - MINUTE)

    ticked = await world.ticker.tick(timedelta(0), 10, moving_on())

    assert ticked.recorded == {job.id: 1}
    moved = await world.jobs.get_job(world.platform.id, job.id)
    assert (moved.next_run, moved.last_run) == (job.next_run + HOUR, job.next_run)  # type: ignore[operator]
    assert (moved.runs_count, moved.executions_count, moved.updated_at) == (1, 1, ticked.now)
    [row] = await world.rows_of(job)
    assert (row.scheduled_at, row.status, row.trigger) == (job.next_run, "pending", "schedule")


async def test_a_move_may_complete_a_job(world: World) -> None:
    now = await world.now()
    job = await world.job(now - MINUTE)

    def complete(due: DueJobs) -> TickPlan:
        move = JobMove(job.id, None, job.next_run, 1, JobStatus.COMPLETED, due.now, due.now)
        return TickPlan(moves=[move])

    ticked = await world.ticker.tick(timedelta(0), 10, complete)

    done = await world.jobs.get_job(world.platform.id, job.id)
    assert (done.status, done.next_run) == (JobStatus.COMPLETED, None)
    assert done.completed_at == ticked.now


async def test_a_slot_is_stored_once(world: World) -> None:
    """(job, scheduled_at) of a schedule slot: a second insert, in a later
    tick or in the same plan, is skipped and not counted."""
    now = await world.now()
    job = await world.job(now - MINUTE)

    def twice(due: DueJobs) -> TickPlan:
        [claimed] = due.jobs
        slot = [
            execution_rules.for_job(claimed, ExecutionTrigger.SCHEDULE, job.next_run, due.now)  # type: ignore[arg-type]
            for _ in range(2)
        ]
        stay = JobMove(job.id, job.next_run, None, 0, JobStatus.ACTIVE, None, due.now)
        return TickPlan(executions=slot, moves=[stay])

    first = await world.ticker.tick(timedelta(0), 10, twice)
    second = await world.ticker.tick(timedelta(0), 10, twice)

    assert first.recorded == {job.id: 1}
    assert second.claimed == 1 and second.recorded.get(job.id, 0) == 0
    assert len(await world.rows_of(job)) == 1
    assert (await world.jobs.get_job(world.platform.id, job.id)).executions_count == 1


async def test_outstanding_executions_are_read_for_jobs_that_watch_them(world: World) -> None:
    """Pending, running and buffered executions of jobs whose overlap policy
    decides on them; a job that allows overlaps gets none read."""
    now = await world.now()
    watching = await world.job(now - MINUTE, overlap=OverlapPolicy.BUFFER_ONE)
    await world.pending(watching, now + HOUR)
    await world.running(watching)
    assert (await world.ticker.tick(timedelta(0), 10, buffering)).recorded == {watching.id: 1}
    allowing = await world.job(now - MINUTE)
    await world.pending(allowing, now - MINUTE)
    seen: list[DueJobs] = []

    await world.ticker.tick(timedelta(0), 10, moving_on(seen))

    [due] = seen
    assert due.outstanding == {watching.id: Outstanding(pending=1, running=1, buffered=1)}


def buffering(due: DueJobs) -> TickPlan:
    """Records a buffered slot for each claimed job, a second before its
    next_run, and leaves the job due."""
    waiting, moves = [], []
    for job in due.jobs:
        assert job.next_run is not None
        slot = job.next_run - timedelta(seconds=1)
        waiting.append(execution_rules.for_job(job, ExecutionTrigger.SCHEDULE, slot, due.now))
        moves.append(JobMove(job.id, job.next_run, None, 0, job.status, None, due.now))
    return TickPlan(buffered=waiting, moves=moves)


async def test_cancel_outstanding_cancels_what_has_not_finished(world: World) -> None:
    now = await world.now()
    job = await world.job(now - MINUTE, overlap=OverlapPolicy.CANCEL_PREVIOUS)
    waiting = await world.pending(job, now + HOUR)
    started = await world.running(job)
    done = await world.pending(job, now - HOUR, status=ExecutionStatus.SUCCESS)

    def cancel(due: DueJobs) -> TickPlan:
        return replace(moving_on()(due), cancel_outstanding=[job.id])

    ticked = await world.ticker.tick(timedelta(0), 10, cancel)

    assert ticked.cancelled_running == (started.execution.id,)
    for execution in (waiting, started.execution):
        row = await world.row(execution.id)
        assert (row.status, row.completed_at) == ("cancelled", ticked.now)
    assert (await world.row(done.id)).status == "success"
    slot = [row for row in await world.rows_of(job) if row.trigger == "schedule"]
    assert [row.status for row in slot] == ["pending"]  # the new slot is not cancelled


async def test_a_failing_decide_writes_nothing_and_releases_the_jobs(world: World) -> None:
    now = await world.now()
    job = await world.job(now - MINUTE)

    def broken(due: DueJobs) -> TickPlan:
        raise RuntimeError("decide failed")

    with pytest.raises(RuntimeError, match="decide failed"):
        await world.ticker.tick(timedelta(0), 10, broken)

    assert await world.jobs.get_job(world.platform.id, job.id) == job
    assert (await world.ticker.tick(timedelta(0), 10, moving_on())).claimed == 1


async def test_never_claims_a_job_another_transaction_holds(world: World) -> None:
    """Side by side, the held job is skipped at once; with one writer the tick
    waits for the other transaction, and sees what it committed."""
    now = await world.now()
    held = await world.job(now - 2 * MINUTE)
    free = await world.job(now - MINUTE)
    seen: list[DueJobs] = []
    async with world.engine.connect() as other:
        await other.begin()
        if world.side_by_side:
            lock = select(scheduled_jobs.c.id).where(scheduled_jobs.c.id == held.id)
            await other.execute(lock.with_for_update())
        tick = asyncio.create_task(world.ticker.tick(timedelta(0), 10, moving_on(seen)))
        if world.side_by_side:
            # Done while the job is still held: skipped, not waited for.
            await asyncio.wait_for(asyncio.shield(tick), 5.0)
        else:
            await asyncio.sleep(0.3)
            assert not tick.done(), "a tick ran while another transaction held the database"
            later = update(scheduled_jobs).where(scheduled_jobs.c.id == held.id)
            await other.execute(later.values(next_run=now + HOUR))
        await other.commit()
        ticked = await tick

    assert [job.id for job in seen[0].jobs] == [free.id]
    # Side by side the held job is due still, and counted: the ticker looks
    # again in a moment rather than sleeping as if nothing were due.
    assert ticked.skipped == (1 if world.side_by_side else 0)


async def test_concurrent_ticks_share_the_due_jobs_without_overlap(
    world: World, database_url: str
) -> None:
    now = await world.now()
    jobs = {(await world.job(now - MINUTE)).id for _ in range(30)}
    engines = [create_engine(database_url) for _ in range(3)]
    seen: list[DueJobs] = []
    try:
        stores = [SqlTickerStore(engine) for engine in engines]
        await asyncio.gather(*(s.tick(timedelta(0), 30, moving_on(seen)) for s in stores))
    finally:
        for engine in engines:
            await engine.dispose()

    claimed = Counter(job.id for due in seen for job in due.jobs)
    assert claimed == Counter(dict.fromkeys(jobs, 1))


async def test_upcoming_is_the_earliest_next_run_of_an_active_job(world: World) -> None:
    assert (await world.ticker.upcoming()).next_run is None
    now = await world.now()
    await world.job(now - HOUR, status=JobStatus.PAUSED)
    await world.job(now + HOUR)
    soonest = await world.job(now + MINUTE)

    upcoming = await world.ticker.upcoming()

    assert upcoming.next_run == soonest.next_run
    assert now <= upcoming.now < now + MINUTE
