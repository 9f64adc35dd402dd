"""The ticker over a live server: every due slot becomes exactly one execution."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cronstream.v1 import execution_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.config import Settings
from cronstream_server.core.enums import JobStatus
from cronstream_server.core.ids import new_id
from cronstream_server.core.jobs import Job, JobSpec
from cronstream_server.core.ports import Upcoming
from cronstream_server.core.triggers import CronTrigger, IntervalTrigger
from cronstream_server.engine.ticker import Ticker, TickerSettings
from cronstream_server.signals import JOBS, LocalSignals
from cronstream_server.store.database import create_engine
from cronstream_server.store.jobs import SqlJobStore
from cronstream_server.store.tables import job_executions
from cronstream_server.store.ticker import SqlTickerStore
from sqlalchemy import select

from tests.conftest import Live, Tenant
from tests.jobs import create, seconds, ts

PENDING = execution_pb2.EXECUTION_STATUS_PENDING
FIRE_AHEAD = timedelta(seconds=Settings().fire_ahead_seconds)
SKIPPED = execution_pb2.EXECUTION_STATUS_SKIPPED


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def executions_of(live: Live, tenant: Tenant, job_id: str) -> list[execution_pb2.Execution]:
    response = await live.scheduler.ListExecutions(
        pb.ListExecutionsRequest(job_id=job_id, page_size=1000), metadata=tenant.auth
    )
    return sorted(response.executions, key=lambda e: e.scheduled_at.ToDatetime())


async def job_of(live: Live, tenant: Tenant, job_id: str) -> job_pb2.Job:
    return (await live.scheduler.GetJob(pb.GetJobRequest(id=job_id), metadata=tenant.auth)).job


async def test_interval_job_fires_each_slot_once_then_completes(live: Live, tenant: Tenant) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    job = await create(
        live,
        tenant,
        job_pb2.Job(
            name="thrice",
            handler_name="h",
            interval=job_pb2.IntervalTrigger(every=seconds(0.5), start_at=ts(start), max_runs=3),
        ),
    )

    async def completed() -> bool:
        return (await job_of(live, tenant, job.id)).status == job_pb2.JOB_STATUS_COMPLETED

    await eventually(completed)
    runs = await executions_of(live, tenant, job.id)
    assert [e.scheduled_at.ToDatetime(tzinfo=UTC) for e in runs] == [
        start + timedelta(seconds=0.5 * i) for i in range(3)
    ]
    assert {(e.status, e.trigger) for e in runs} == {
        (PENDING, execution_pb2.EXECUTION_TRIGGER_SCHEDULE)
    }
    final = await job_of(live, tenant, job.id)
    assert final.executions_count == 3
    assert final.last_run.ToDatetime(tzinfo=UTC) == start + timedelta(seconds=1)
    assert not final.HasField("next_run") and final.HasField("completed_at")


async def test_a_new_job_wakes_the_sleeping_ticker(live: Live, tenant: Tenant) -> None:
    await asyncio.sleep(0.2)  # the ticker is asleep (nothing due for up to 5 s)
    run_at = datetime.now(UTC) + timedelta(milliseconds=300)
    job = await create(
        live,
        tenant,
        job_pb2.Job(name="soon", handler_name="h", once=job_pb2.OnceTrigger(run_at=ts(run_at))),
    )

    async def fired() -> bool:
        return len(await executions_of(live, tenant, job.id)) == 1

    await eventually(fired, within=3.0)
    (execution,) = await executions_of(live, tenant, job.id)
    lag = execution.created_at.ToDatetime(tzinfo=UTC) - run_at
    # Fired ahead, or late at most 2 s: woken by the signal, not the 5 s poll.
    assert -FIRE_AHEAD <= lag < timedelta(seconds=2)
    assert (await job_of(live, tenant, job.id)).status == job_pb2.JOB_STATUS_COMPLETED


async def wake_ticker(live: Live, tenant: Tenant, job_id: str) -> None:
    """A job written behind the API's back: ResumeJob (a no-op on an active job)
    announces it, as CreateJob would have."""
    await live.scheduler.ResumeJob(pb.ResumeJobRequest(id=job_id), metadata=tenant.auth)


def _due_job(platform_id: str, now: datetime, **spec: object) -> Job:
    trigger = IntervalTrigger(every=timedelta(hours=1), start_at=now - timedelta(seconds=1))
    return Job(
        id=new_id(),
        platform_id=platform_id,
        spec=JobSpec(name="due", handler_name="h", trigger=trigger, **spec),  # type: ignore[arg-type]
        status=JobStatus.ACTIVE,
        created_by="test",
        created_at=now,
        updated_at=now,
        next_run=trigger.start_at,
    )


async def test_concurrent_tickers_fire_each_slot_exactly_once(live: Live, tenant: Tenant) -> None:
    now = datetime.now(UTC)
    store = SqlJobStore(live.running.engine)
    job_ids = []
    for _ in range(300):
        created, _ = await store.create_job(_due_job(tenant.platform.id, now), None)
        job_ids.append(created.id)
    # Four more "replicas" (own engines, own connections) race the server's ticker.
    engines = [create_engine(live.database_url) for _ in range(4)]
    try:
        tickers = [Ticker(SqlTickerStore(engine), LocalSignals()) for engine in engines]
        await asyncio.gather(*(ticker.tick() for ticker in tickers for _ in range(3)))
    finally:
        for engine in engines:
            await engine.dispose()
    async with live.running.engine.connect() as conn:
        rows = (await conn.execute(select(job_executions.c.job_id))).scalars().all()
    assert Counter(rows) == Counter(dict.fromkeys(job_ids, 1))


async def test_missed_slots_after_downtime_run_once(live: Live, tenant: Tenant) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    trigger = CronTrigger("* * * * *")
    job = replace(
        _due_job(tenant.platform.id, now),
        spec=JobSpec(name="minutely", handler_name="h", trigger=trigger),
        next_run=now - timedelta(minutes=10),
    )
    await SqlJobStore(live.running.engine).create_job(job, None)
    await live.scheduler.ResumeJob(
        pb.ResumeJobRequest(id=job.id), metadata=tenant.auth
    )  # no-op: active

    async def fired() -> bool:
        runs = await executions_of(live, tenant, job.id)
        return any(e.status == PENDING for e in runs)

    await eventually(fired)
    runs = await executions_of(live, tenant, job.id)
    pending = sorted(e.scheduled_at.ToDatetime(tzinfo=UTC) for e in runs if e.status == PENDING)
    skipped = [e for e in runs if e.status == SKIPPED]
    # The on-time slot runs and every late one is skipped; the next minute may
    # have been fired ahead too, when the test ran just before it.
    assert pending in ([now], [now, now + timedelta(minutes=1)])
    assert len(skipped) >= 9
    assert all(e.error.startswith("missed") for e in skipped)
    latest = (await job_of(live, tenant, job.id)).next_run.ToDatetime(tzinfo=UTC)
    assert latest > datetime.now(UTC) - timedelta(seconds=1)


async def test_paused_job_does_not_fire_and_resumes_without_a_burst(
    live: Live, tenant: Tenant
) -> None:
    start = datetime.now(UTC) + timedelta(milliseconds=200)
    job = await create(
        live,
        tenant,
        job_pb2.Job(
            name="tick",
            handler_name="h",
            interval=job_pb2.IntervalTrigger(every=seconds(0.4), start_at=ts(start)),
        ),
    )

    async def fired_once() -> bool:
        return len(await executions_of(live, tenant, job.id)) >= 1

    await eventually(fired_once)
    await live.scheduler.PauseJob(pb.PauseJobRequest(id=job.id), metadata=tenant.auth)
    paused_at = datetime.now(UTC)
    at_pause = await executions_of(live, tenant, job.id)
    # Slots fired ahead whose instants had not come were withdrawn by the pause.
    assert all(e.scheduled_at.ToDatetime(tzinfo=UTC) <= paused_at for e in at_pause)
    await asyncio.sleep(1.5)
    assert len(await executions_of(live, tenant, job.id)) == len(at_pause)
    resumed_at = datetime.now(UTC)
    await live.scheduler.ResumeJob(pb.ResumeJobRequest(id=job.id), metadata=tenant.auth)
    await asyncio.sleep(0.3)
    new = (await executions_of(live, tenant, job.id))[len(at_pause) :]
    # Read after the list: the ticker may fire a slot while the list is read
    # (CI once saw one fired ahead during a slow read).
    checked_at = datetime.now(UTC)
    # No burst of the ~4 slots missed while paused: only slots from the
    # resume on, fired up to FIRE_AHEAD before their instants.
    assert all(
        resumed_at - timedelta(seconds=0.01)
        <= e.scheduled_at.ToDatetime(tzinfo=UTC)
        <= checked_at + FIRE_AHEAD
        for e in new
    )
    assert len(new) <= 3


async def test_cancel_previous_supersedes_the_waiting_execution(live: Live, tenant: Tenant) -> None:
    # A second apart, and every slot run however late the ticker (a loaded
    # machine once made it skip one as a misfire).
    start = datetime.now(UTC) + timedelta(milliseconds=300)
    job = await create(
        live,
        tenant,
        job_pb2.Job(
            name="latest wins",
            handler_name="nobody-runs-this",
            overlap_policy=job_pb2.OVERLAP_POLICY_CANCEL_PREVIOUS,
            misfire_policy=job_pb2.MISFIRE_POLICY_RUN_ALL,
            interval=job_pb2.IntervalTrigger(every=seconds(1.0), start_at=ts(start), max_runs=3),
        ),
    )

    async def done() -> bool:
        return (await job_of(live, tenant, job.id)).status == job_pb2.JOB_STATUS_COMPLETED

    await eventually(done)
    statuses = [e.status for e in await executions_of(live, tenant, job.id)]
    assert statuses == [
        execution_pb2.EXECUTION_STATUS_CANCELLED,
        execution_pb2.EXECUTION_STATUS_CANCELLED,
        PENDING,
    ]


async def test_jitter_delays_dispatch_not_the_slot(live: Live, tenant: Tenant) -> None:
    now = datetime.now(UTC)
    job = replace(
        _due_job(tenant.platform.id, now),
        spec=replace(_due_job("", now).spec, jitter=timedelta(seconds=30)),
    )
    await SqlJobStore(live.running.engine).create_job(job, None)
    await wake_ticker(live, tenant, job.id)
    for _ in range(100):
        # A connection per look, given back before the sleep: on SQLite every
        # transaction is BEGIN IMMEDIATE, and one held across the sleep kept
        # the ticker from writing the slot for seconds (1 run in 8 failed).
        async with live.running.engine.connect() as conn:
            query = select(job_executions).where(job_executions.c.job_id == job.id)
            row = (await conn.execute(query)).first()
        if row is not None:
            break
        await asyncio.sleep(0.05)
    assert row is not None
    assert row.scheduled_at == job.next_run
    assert job.next_run <= row.due_at < job.next_run + timedelta(seconds=30)


async def test_a_jobs_signal_while_the_ticker_looks_for_its_next_run_is_not_lost(
    live: Live,
) -> None:
    """A job created while the ticker reads when it has work next must cut its
    coming sleep short (it used to clear the signal after that read, and slept
    up to 5 s past the new job's instant)."""
    signals = LocalSignals()
    looks = 0
    looked_again = asyncio.Event()

    class LookWhileAJobArrives(SqlTickerStore):
        async def upcoming(
            self,
            crowd: int = 0,
            crowd_window: timedelta = timedelta(),
            excluding: frozenset[str] = frozenset(),
        ) -> Upcoming:
            nonlocal looks
            looks += 1
            if looks == 1:
                signals.deliver(JOBS, "a job was created meanwhile")
            else:
                looked_again.set()
            return await super().upcoming(crowd, crowd_window, excluding)

    engine = create_engine(live.database_url)
    ticker = Ticker(LookWhileAJobArrives(engine), signals, TickerSettings(max_sleep=30.0))
    await ticker.start()
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(looked_again.wait(), 3.0)
    finally:
        await ticker.stop()
        await engine.dispose()
    assert looked_again.is_set(), "the signal was lost: the ticker went to sleep for 30 s"
