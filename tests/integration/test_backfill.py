"""BackfillJob over a live server: a job's past instants, exactly the ticker's,
each given one execution, released at a bounded rate, and kept out of what
judges live firings (overlap policies, LATE alerts)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from cronstream.v1 import execution_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.service.backfill import CHUNK
from cronstream_server.store import backfill as backfill_store
from cronstream_server.store.database import create_engine
from sqlalchemy import text

from tests.conftest import Live, Tenant, make_tenant
from tests.integration.test_settle_plans import plan_of
from tests.integration.worker_harness import RawWorker, eventually, short_lease_server
from tests.jobs import create, cron_job, seconds, ts
from tests.status import expect_code, violations

BACKFILL = execution_pb2.EXECUTION_TRIGGER_BACKFILL
SCHEDULE = execution_pb2.EXECUTION_TRIGGER_SCHEDULE
PENDING = execution_pb2.EXECUTION_STATUS_PENDING
WAITING = execution_pb2.EXECUTION_STATUS_WAITING
SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def backfill_request(job_id: str, start: datetime, end: datetime, **fields: Any) -> Any:
    return pb.BackfillJobRequest(id=job_id, start_time=ts(start), end_time=ts(end), **fields)


async def backfill(
    live: Live, tenant: Tenant, job_id: str, start: datetime, end: datetime, **fields: Any
) -> pb.BackfillJobResponse:
    request = backfill_request(job_id, start, end, **fields)
    return await live.scheduler.BackfillJob(request, metadata=tenant.auth)


async def refused(
    live: Live, tenant: Tenant, request: pb.BackfillJobRequest, code: grpc.StatusCode
) -> grpc.aio.AioRpcError:
    return await expect_code(live.scheduler.BackfillJob(request, metadata=tenant.auth), code)


async def executions_of(live: Live, tenant: Tenant, job_id: str) -> list[execution_pb2.Execution]:
    """The job's executions, oldest instant first."""
    found: list[execution_pb2.Execution] = []
    token = ""
    while True:
        page = await live.scheduler.ListExecutions(
            pb.ListExecutionsRequest(job_id=job_id, page_size=1000, page_token=token),
            metadata=tenant.auth,
        )
        found += page.executions
        token = page.next_page_token
        if not token:
            return sorted(found, key=lambda e: e.scheduled_at.ToDatetime())


def instants(executions: list[execution_pb2.Execution]) -> list[datetime]:
    return [e.scheduled_at.ToDatetime(tzinfo=UTC) for e in executions]


async def job_of(live: Live, tenant: Tenant, job_id: str) -> job_pb2.Job:
    return (await live.scheduler.GetJob(pb.GetJobRequest(id=job_id), metadata=tenant.auth)).job


async def preview(
    live: Live, tenant: Tenant, job: job_pb2.Job, start: datetime, end: datetime
) -> list[datetime]:
    """PreviewSchedule's instants in [start, end): those strictly after the
    second before start (cron instants are whole seconds)."""
    response = await live.scheduler.PreviewSchedule(
        pb.PreviewScheduleRequest(job=job, start_time=ts(start - timedelta(seconds=1)), count=1000),
        metadata=tenant.auth,
    )
    times = [t.ToDatetime(tzinfo=UTC) for t in response.times]
    return [t for t in times if t < end]


def now() -> datetime:
    return datetime.now(UTC)


# --- the instants -------------------------------------------------------------------


async def test_a_berlin_cron_job_gets_the_ticker_instants_across_the_spring_jump(
    live: Live, tenant: Tenant
) -> None:
    spec = cron_job(
        "30 2 * * *",
        "Europe/Berlin",
        payload={"report": "daily"},
        priority=job_pb2.PRIORITY_HIGH,
        max_retries=7,
        timeout=seconds(42),
    )
    job = await create(live, tenant, spec)
    start, end = datetime(2025, 3, 28, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)

    done = await backfill(live, tenant, job.id, start, end)

    # 02:30 in Berlin: CET (UTC+1) before the jump, CEST (UTC+2) after; on
    # 30 March 02:30 does not exist and fires when the clock jumps, at 03:00
    # CEST (Debian cron's rule, docs/time.md).
    expected = [
        datetime(2025, 3, 28, 1, 30, tzinfo=UTC),
        datetime(2025, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2025, 3, 30, 1, 0, tzinfo=UTC),
        datetime(2025, 3, 31, 0, 30, tzinfo=UTC),
    ]
    assert expected == await preview(live, tenant, spec, start, end)
    assert (done.instants, done.created, done.existing) == (4, 4, 0)
    made = await executions_of(live, tenant, job.id)
    assert instants(made) == expected
    for execution in made:
        # Waiting for its release, or released already (ALLOW: at the rate).
        assert execution.trigger == BACKFILL and execution.status in (WAITING, PENDING)
        assert execution.handler_name == "tick"
        assert dict(execution.payload) == {"report": "daily"}
        assert (execution.max_retries, execution.attempt) == (7, 1)
    after = await job_of(live, tenant, job.id)
    assert after.executions_count == 4
    # The schedule moves on from now, as before: backfilling moves neither.
    assert after.next_run == job.next_run and not after.HasField("last_run")


async def test_a_repeated_autumn_hour_fires_twice_for_a_wildcard_hour(
    live: Live, tenant: Tenant
) -> None:
    spec = cron_job("0 * * * *", "Europe/Berlin")
    job = await create(live, tenant, spec)
    # 26 October 2025 in Berlin, midnight to midnight: 25 hours, 02:00 twice.
    start, end = datetime(2025, 10, 25, 22, tzinfo=UTC), datetime(2025, 10, 26, 23, tzinfo=UTC)

    done = await backfill(live, tenant, job.id, start, end)

    assert done.instants == done.created == 25
    assert instants(await executions_of(live, tenant, job.id)) == await preview(
        live, tenant, spec, start, end
    )


async def test_an_interval_job_backfills_its_grid_only_from_its_start(
    live: Live, tenant: Tenant
) -> None:
    start_at = now().replace(microsecond=0) - timedelta(hours=1)
    spec = job_pb2.Job(
        name="grid",
        handler_name="h",
        interval=job_pb2.IntervalTrigger(every=seconds(600), start_at=ts(start_at), max_runs=4),
    )
    job = await create(live, tenant, spec)

    # Starts before start_at; max_runs ends the grid at its 4th point.
    done = await backfill(live, tenant, job.id, start_at - timedelta(hours=1), start_at)
    assert (done.instants, done.created) == (0, 0)
    # The ticker fires the late grid meanwhile (by the misfire policy, some
    # slots recorded as skipped): whoever writes an instant first, it gets one
    # execution, and the backfill counts the ticker's as existing.
    done = await backfill(live, tenant, job.id, start_at, now())
    made = await executions_of(live, tenant, job.id)
    assert instants(made) == [start_at + timedelta(minutes=10 * i) for i in range(4)]
    assert done.instants == 4 and done.created + done.existing == 4
    assert done.existing == sum(e.trigger == SCHEDULE for e in made)


# --- idempotency --------------------------------------------------------------------


async def test_the_same_backfill_twice_creates_nothing_the_second_time(
    live: Live, tenant: Tenant
) -> None:
    job = await create(live, tenant, cron_job("*/10 * * * *"))
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)

    first = await backfill(live, tenant, job.id, start, end)
    again = await backfill(live, tenant, job.id, start, end)
    # Overlapping the first: only the new part is created.
    wider = await backfill(live, tenant, job.id, start, end + timedelta(hours=1))

    assert (first.instants, first.created, first.existing) == (144, 144, 0)
    assert (again.instants, again.created, again.existing) == (144, 0, 144)
    assert (wider.instants, wider.created, wider.existing) == (150, 6, 144)
    assert len(await executions_of(live, tenant, job.id)) == 150
    assert (await job_of(live, tenant, job.id)).executions_count == 150


async def test_instants_the_ticker_fired_count_as_existing(live: Live, tenant: Tenant) -> None:
    start_at = now().replace(microsecond=0) + timedelta(seconds=1)
    spec = job_pb2.Job(
        name="every second",
        handler_name="h",
        interval=job_pb2.IntervalTrigger(every=seconds(1), start_at=ts(start_at)),
    )
    job = await create(live, tenant, spec)

    async def fired_three() -> bool:
        made = await executions_of(live, tenant, job.id)
        return sum(e.trigger == SCHEDULE for e in made) >= 3

    await eventually(fired_three)
    # Paused, it fires no more (slots fired ahead are withdrawn): the
    # instants from here on are the backfill's to fill.
    await live.scheduler.PauseJob(pb.PauseJobRequest(id=job.id), metadata=tenant.auth)
    await asyncio.sleep(2.5)
    end = now()

    done = await backfill(live, tenant, job.id, start_at, end)

    made = await executions_of(live, tenant, job.id)
    fired = [e for e in made if e.trigger == SCHEDULE]
    filled = [e for e in made if e.trigger == BACKFILL]
    # Every instant has exactly one execution, the ticker's or the backfill's.
    assert sorted(instants(made)) == instants(made)
    assert len(set(instants(made))) == len(made)
    grid = [start_at + timedelta(seconds=i) for i in range(done.instants)]
    assert instants([e for e in made if e.scheduled_at.ToDatetime(tzinfo=UTC) < end]) == grid
    assert done.existing == len(fired) >= 2  # three fired, one ahead of its instant withdrawn
    assert done.created == len(filled) >= 2


# --- what a call may ask ------------------------------------------------------------


async def test_a_bad_range_or_policy_is_invalid_and_names_its_field(
    live: Live, tenant: Tenant
) -> None:
    job = await create(live, tenant, cron_job())
    day = datetime(2025, 1, 1, tzinfo=UTC)

    error = await refused(live, tenant, pb.BackfillJobRequest(id=job.id), INVALID)
    assert violations(error) == {"start_time": "is required", "end_time": "is required"}
    error = await refused(live, tenant, backfill_request(job.id, day, day), INVALID)
    assert violations(error) == {"end_time": "must be after start_time"}
    future = now() + timedelta(minutes=5)
    error = await refused(live, tenant, backfill_request(job.id, day, future), INVALID)
    assert violations(error)["end_time"].startswith("is in the future")
    for policy in (job_pb2.OVERLAP_POLICY_SKIP, job_pb2.OVERLAP_POLICY_CANCEL_PREVIOUS):
        request = backfill_request(job.id, day, day + timedelta(days=1), overlap_policy=policy)
        error = await refused(live, tenant, request, INVALID)
        assert "would drop instants" in violations(error)["overlap_policy"]
    assert await executions_of(live, tenant, job.id) == []


async def test_more_than_100000_instants_are_refused_saying_how_many(
    live: Live, tenant: Tenant
) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    every_second = job_pb2.Job(
        name="every second",
        handler_name="h",
        interval=job_pb2.IntervalTrigger(every=seconds(1), start_at=ts(start)),
    )
    interval = await create(live, tenant, every_second)
    cron = await create(live, tenant, cron_job("* * * * * *"))

    # 100,001 seconds: one over. An interval's instants are counted exactly.
    request = backfill_request(interval.id, start, start + timedelta(seconds=100_001))
    said = violations(await refused(live, tenant, request, INVALID))["end_time"]
    assert said.startswith("the range holds 100,001 instants; at most 100,000 per call")
    assert (start + timedelta(seconds=100_000)).isoformat() in said
    request = backfill_request(interval.id, start, start + timedelta(days=365))
    said = violations(await refused(live, tenant, request, INVALID))["end_time"]
    assert said.startswith("the range holds 31,536,000 instants")
    # A cron schedule's are counted by listing them, up to the limit.
    request = backfill_request(cron.id, start, start + timedelta(days=2))
    said = violations(await refused(live, tenant, request, INVALID))["end_time"]
    assert said.startswith("the range holds more than 100,000 instants")
    for job in (interval, cron):  # the ticker fires them live meanwhile; nothing else
        assert BACKFILL not in {e.trigger for e in await executions_of(live, tenant, job.id)}


async def test_event_and_cancelled_jobs_cannot_be_backfilled_paused_ones_can(
    live: Live, tenant: Tenant
) -> None:
    day = datetime(2025, 1, 1, tzinfo=UTC)
    event_job = job_pb2.Job(name="e", handler_name="h", event=job_pb2.EventTrigger(event_name="x"))
    event = await create(live, tenant, event_job)
    cancelled = await create(live, tenant, cron_job())
    await live.scheduler.CancelJob(pb.CancelJobRequest(id=cancelled.id), metadata=tenant.auth)
    paused = await create(live, tenant, cron_job("0 12 * * *"))
    await live.scheduler.PauseJob(pb.PauseJobRequest(id=paused.id), metadata=tenant.auth)
    week = (day, day + timedelta(days=7))

    error = await refused(
        live, tenant, backfill_request(event.id, *week), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "no schedule" in (error.details() or "")
    error = await refused(
        live, tenant, backfill_request(cancelled.id, *week), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "cancelled" in (error.details() or "")
    done = await backfill(live, tenant, paused.id, *week)
    assert done.created == 7
    assert (await job_of(live, tenant, paused.id)).status == job_pb2.JOB_STATUS_PAUSED


async def test_another_platforms_job_is_not_found_and_untouched(live: Live, tenant: Tenant) -> None:
    other = await make_tenant(live, "rival")
    theirs = await create(live, other, cron_job("0 * * * *"))
    day = datetime(2025, 1, 1, tzinfo=UTC)

    request = backfill_request(theirs.id, day, day + timedelta(days=1))
    await refused(live, tenant, request, grpc.StatusCode.NOT_FOUND)
    await refused(
        live,
        tenant,
        backfill_request("not-an-id", day, day + timedelta(days=1)),
        grpc.StatusCode.NOT_FOUND,
    )

    assert await executions_of(live, other, theirs.id) == []


# --- running them -------------------------------------------------------------------


async def test_backfilled_executions_are_worked_to_success_and_counted(
    live: Live, tenant: Tenant
) -> None:
    job = await create(live, tenant, cron_job("0 6 * * *", "Asia/Tokyo", handler_name="h"))
    start, end = datetime(2025, 5, 1, tzinfo=UTC), datetime(2025, 5, 4, tzinfo=UTC)
    worker = await RawWorker.connect(live, tenant, handlers=("h",), slots=3)
    try:
        done = await backfill(live, tenant, job.id, start, end)
        assert done.created == 3
        # ALLOW (the job's policy): released at the rate, all three at once.
        assignments = [await worker.expect("assignment") for _ in range(3)]
        seen = [a.scheduled_at.ToDatetime(tzinfo=UTC) for a in assignments]
        for assignment in assignments:
            await worker.succeed(assignment, ok=True)
        # 06:00 in Tokyo (UTC+9, no DST) is 21:00 UTC the day before.
        assert sorted(seen) == [datetime(2025, 5, d, 21, tzinfo=UTC) for d in (1, 2, 3)]

        async def all_succeeded() -> bool:
            made = await executions_of(live, tenant, job.id)
            return [(e.trigger, e.status) for e in made] == [(BACKFILL, SUCCESS)] * 3

        await eventually(all_succeeded)
    finally:
        await worker.close()
    after = await job_of(live, tenant, job.id)
    assert (after.executions_count, after.success_count, after.failure_count) == (3, 3, 0)
    assert after.next_run == job.next_run and not after.HasField("last_run")


async def test_backfilled_executions_are_released_at_the_configured_rate(
    database_url: str,
) -> None:
    leases = {"lease_seconds": 30.0, "heartbeat_seconds": 10.0}  # none lost mid-test
    async with short_lease_server(database_url, backfill_rate=4.0, **leases) as live:
        tenant = await make_tenant(live, "paced")
        job = await create(live, tenant, cron_job("0 * * * *", handler_name="h"))
        worker = await RawWorker.connect(live, tenant, handlers=("h",), slots=10)
        try:
            start = datetime(2025, 1, 1, tzinfo=UTC)
            began = asyncio.get_running_loop().time()
            done = await backfill(live, tenant, job.id, start, start + timedelta(hours=4))
            assert done.created == 4
            for _ in range(4):
                await worker.expect("assignment")
            # Due 0, 0.25, 0.5 and 0.75 s after the call began: the last
            # cannot have been handed out sooner (later is only load).
            assert asyncio.get_running_loop().time() - began >= 0.75
        finally:
            await worker.close()


async def test_a_backfill_does_not_make_a_live_skip_slot_skip(live: Live, tenant: Tenant) -> None:
    spec = cron_job("* * * * * *", overlap_policy=job_pb2.OVERLAP_POLICY_SKIP, handler_name="idle")
    job = await create(live, tenant, spec)
    await live.scheduler.PauseJob(pb.PauseJobRequest(id=job.id), metadata=tenant.auth)
    for fired in await executions_of(live, tenant, job.id):  # before the pause took
        if fired.status == PENDING:
            await live.scheduler.CancelExecution(
                pb.CancelExecutionRequest(id=fired.id), metadata=tenant.auth
            )
    past = now().replace(microsecond=0) - timedelta(seconds=30)
    # Ten backfilled executions wait: no worker serves "idle".
    done = await backfill(live, tenant, job.id, past, past + timedelta(seconds=10))
    assert done.created == 10
    resumed = now()
    await live.scheduler.ResumeJob(pb.ResumeJobRequest(id=job.id), metadata=tenant.auth)

    async def live_slots() -> list[execution_pb2.Execution]:
        return [
            e
            for e in await executions_of(live, tenant, job.id)
            if e.trigger == SCHEDULE and e.scheduled_at.ToDatetime(tzinfo=UTC) > resumed
        ]

    async def fired_again() -> bool:
        return bool(await live_slots())

    await eventually(fired_again)
    first = (await live_slots())[0]
    # It runs: the backfilled ones waiting are not "the previous run".
    assert first.status == PENDING, first.error


async def test_backfilled_executions_waiting_open_no_late_alert(live: Live, tenant: Tenant) -> None:
    policy = job_pb2.HealthPolicy(max_start_delay=seconds(0.2))
    job = await create(
        live, tenant, cron_job("0 * * * *", handler_name="idle", health_policy=policy)
    )
    start = datetime(2025, 1, 1, tzinfo=UTC)
    assert (await backfill(live, tenant, job.id, start, start + timedelta(hours=3))).created == 3
    # The alert check runs every quarter second; a LATE alert would be open
    # after 0.2 s plus a check.
    await asyncio.sleep(1.5)

    alerts = await live.scheduler.ListAlerts(
        pb.ListAlertsRequest(job_id=job.id), metadata=tenant.auth
    )
    assert list(alerts.alerts) == []
    assert (await job_of(live, tenant, job.id)).health.state == job_pb2.HEALTH_STATE_HEALTHY


async def test_a_chunk_finds_the_instants_taken_by_an_index_range(
    live: Live, tenant: Tenant
) -> None:
    """A chunk reads the slots of its own range through an index bounded by
    it (uq_job_executions_slot, whose predicate it repeats, or the index of
    open backfilled rows when the planner prefers it), never every row."""
    if not live.database_url.startswith("postgresql"):
        pytest.skip("the plans are Postgres's")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for _ in range(4):  # other jobs' slots share the instants
        job = await create(live, tenant, cron_job("* * * * *", handler_name="h"))
        done = await backfill(live, tenant, job.id, start, start + timedelta(minutes=5_000))
        assert done.created == 5_000
    engine = create_engine(live.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE job_executions"))
            chunk = [start + timedelta(minutes=2_000 + i) for i in range(CHUNK)]
            _, plan = await plan_of(conn, backfill_store._taken(conn, job.id, chunk))
            await conn.rollback()
    finally:
        await engine.dispose()
    assert "Seq Scan" not in plan, plan
    bounded = ("uq_job_executions_slot", "ix_job_executions_backfill_open")
    assert any(index in plan for index in bounded), plan
    assert "scheduled_at >= " in plan, plan
