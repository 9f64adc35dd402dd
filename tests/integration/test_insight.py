"""PreviewSchedule, GetJobStats, GetMetrics and GetHealth over real gRPC."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from cronstream.v1 import execution_pb2, insight_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.api.deps import SchedulerDeps
from cronstream_server.api.scheduler import SchedulerServicer
from cronstream_server.core import executions as execution_rules
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger
from cronstream_server.core.insight import ComponentHealth, HealthStatus
from cronstream_server.engine.event_batcher import EventBatcher
from cronstream_server.store import insight as insight_store
from cronstream_server.store.event_delivery import SqlEventDeliveryStore
from cronstream_server.store.executions import SqlExecutionStore
from cronstream_server.store.jobs import SqlJobStore
from cronstream_server.store.scheduler_stores import scheduler_stores
from cronstream_server.store.tables import scheduled_jobs
from google.protobuf import timestamp_pb2
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import Live, Tenant, make_tenant
from tests.jobs import create, cron_job, seconds, ts
from tests.status import expect_code, violations

S = execution_pb2


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


async def preview(
    live: Live, tenant: Tenant, job: job_pb2.Job, start: datetime | None = None, count: int = 0
) -> list[datetime]:
    response = await live.scheduler.PreviewSchedule(
        pb.PreviewScheduleRequest(job=job, start_time=ts(start) if start else None, count=count),
        metadata=tenant.auth,
    )
    return [t.ToDatetime(tzinfo=UTC) for t in response.times]


# --- PreviewSchedule ------------------------------------------------------------


async def test_preview_cron_in_berlin_across_the_spring_change(live: Live, tenant: Tenant) -> None:
    # Europe/Berlin moves from UTC+1 to UTC+2 on 2025-03-30 at 02:00 local.
    job = cron_job("0 9 * * *", "Europe/Berlin")
    assert await preview(live, tenant, job, utc(2025, 3, 28), 4) == [
        utc(2025, 3, 28, 8),
        utc(2025, 3, 29, 8),
        utc(2025, 3, 30, 7),
        utc(2025, 3, 31, 7),
    ]
    # Strictly after start_time: a start on a firing instant skips it.
    assert await preview(live, tenant, job, utc(2025, 3, 28, 8), 1) == [utc(2025, 3, 29, 8)]


async def test_preview_interval_counts_max_runs_from_its_start(live: Live, tenant: Tenant) -> None:
    start = utc(2030, 1, 1)
    job = job_pb2.Job(
        interval=job_pb2.IntervalTrigger(every=seconds(90), start_at=ts(start), max_runs=3)
    )
    grid = [start, start + timedelta(seconds=90), start + timedelta(seconds=180)]
    assert await preview(live, tenant, job, utc(2029, 12, 31), 10) == grid
    assert await preview(live, tenant, job, grid[1], 10) == grid[2:]
    assert await preview(live, tenant, job, grid[2], 10) == []
    bounded = job_pb2.Job(
        interval=job_pb2.IntervalTrigger(
            every=seconds(3600), start_at=ts(start), end_at=ts(start + timedelta(hours=2))
        )
    )
    assert await preview(live, tenant, bounded, utc(2029, 1, 1), 10) == [
        start,
        start + timedelta(hours=1),
        start + timedelta(hours=2),
    ]


async def test_preview_once_and_event(live: Live, tenant: Tenant) -> None:
    run_at = utc(2031, 1, 2, 3, 4, 5)
    once = job_pb2.Job(once=job_pb2.OnceTrigger(run_at=ts(run_at)))
    assert await preview(live, tenant, once, utc(2031, 1, 1), 5) == [run_at]
    assert await preview(live, tenant, once, run_at, 5) == []
    event = job_pb2.Job(event=job_pb2.EventTrigger(event_name="e"))
    assert await preview(live, tenant, event, utc(2031, 1, 1), 5) == []


async def test_preview_defaults_to_ten_from_now(live: Live, tenant: Tenant) -> None:
    before = datetime.now(UTC)
    times = await preview(live, tenant, cron_job("*/5 * * * *"))
    assert len(times) == 10
    assert before < times[0] <= datetime.now(UTC) + timedelta(minutes=5)
    assert {b - a for a, b in zip(times, times[1:], strict=False)} == {timedelta(minutes=5)}
    assert all(t.minute % 5 == 0 and t.second == 0 for t in times)


async def test_preview_matches_the_next_run_create_job_computes(live: Live, tenant: Tenant) -> None:
    job = await create(live, tenant, cron_job("17 */3 * * *", "Asia/Kolkata"))
    before_create = job.created_at.ToDatetime(tzinfo=UTC)
    assert await preview(live, tenant, job, before_create, 1) == [
        job.next_run.ToDatetime(tzinfo=UTC)
    ]


async def test_preview_refuses_bad_requests(live: Live, tenant: Tenant) -> None:
    async def bad(request: pb.PreviewScheduleRequest) -> set[str]:
        error = await expect_code(
            live.scheduler.PreviewSchedule(request, metadata=tenant.auth),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        return set(violations(error))

    job = cron_job("0 9 * * *")
    assert await bad(pb.PreviewScheduleRequest(job=job, count=-1)) == {"count"}
    assert await bad(pb.PreviewScheduleRequest(job=job, count=1001)) == {"count"}
    assert len(await preview(live, tenant, job, count=1000)) == 1000
    assert await bad(pb.PreviewScheduleRequest(job=job_pb2.Job(name="no trigger"))) == {
        "job.trigger"
    }
    assert await bad(pb.PreviewScheduleRequest()) == {"job.trigger"}
    assert await bad(pb.PreviewScheduleRequest(job=cron_job("61 * * * *"), count=2000)) == {
        "job.cron.expression",
        "count",
    }
    out_of_range = timestamp_pb2.Timestamp(seconds=-(10**12))
    assert await bad(pb.PreviewScheduleRequest(job=job, start_time=out_of_range)) == {"start_time"}


# --- GetJobStats ----------------------------------------------------------------


async def insert_runs(live: Live, tenant: Tenant, job_id: str, *runs: tuple[Any, ...]) -> None:
    """Executions of the job with the given (status, duration_ms) straight into the
    store, created one second apart in the order given."""
    engine = live.running.engine
    job = await SqlJobStore(engine).get_job(tenant.platform.id, job_id)
    base = utc(2030, 1, 1)
    batch = [
        replace(
            execution_rules.for_job(job, ExecutionTrigger.MANUAL, base, base),
            status=status,
            duration_ms=duration,
            created_at=base + timedelta(seconds=index),
        )
        for index, (status, duration) in enumerate(runs)
    ]
    await SqlExecutionStore(engine).insert_many(batch)


async def stats(live: Live, tenant: Tenant, job_id: str) -> insight_pb2.JobStats:
    response = await live.scheduler.GetJobStats(
        pb.GetJobStatsRequest(job_id=job_id), metadata=tenant.auth
    )
    return response.stats


def by_status(counts: Any) -> dict[int, int]:
    return {c.status: c.count for c in counts}


async def test_job_stats_count_rate_mean_and_p95(live: Live, tenant: Tenant) -> None:
    job = await create(live, tenant, cron_job("0 9 * * *"))
    successes = [(ExecutionStatus.SUCCESS, ms) for ms in range(2000, 0, -100)]  # 20 of them
    await insert_runs(
        live,
        tenant,
        job.id,
        *successes,
        *[(ExecutionStatus.FAILED, 50)] * 3,
        (ExecutionStatus.TIMEOUT, 300_000),
        *[(ExecutionStatus.PENDING, None)] * 2,
        (ExecutionStatus.CANCELLED, None),
    )
    other_job = await create(live, tenant, cron_job(name="other"))
    await insert_runs(live, tenant, other_job.id, (ExecutionStatus.SUCCESS, 999_999))
    last_run = utc(2029, 12, 31, 9)
    async with live.running.engine.begin() as conn:
        await conn.execute(
            update(scheduled_jobs).where(scheduled_jobs.c.id == job.id).values(last_run=last_run)
        )

    got = await stats(live, tenant, job.id)

    assert got.job_id == job.id
    assert [(c.status, c.count) for c in got.executions_by_status] == [
        (S.EXECUTION_STATUS_PENDING, 2),
        (S.EXECUTION_STATUS_SUCCESS, 20),
        (S.EXECUTION_STATUS_FAILED, 3),
        (S.EXECUTION_STATUS_TIMEOUT, 1),
        (S.EXECUTION_STATUS_CANCELLED, 1),
    ]
    assert got.total_executions == 27
    assert got.success_rate == pytest.approx(20 / 24)
    assert got.avg_duration.ToMilliseconds() == 1050  # mean of 100..2000
    assert got.p95_duration.ToMilliseconds() == 1900  # rank ceil(0.95 * 20) = 19
    assert got.last_run.ToDatetime(tzinfo=UTC) == last_run
    assert got.next_run == job.next_run


async def test_job_stats_of_a_job_without_finished_runs(live: Live, tenant: Tenant) -> None:
    # Once a year: a schedule every five minutes had its slot fired ahead
    # (half a second before the instant) when the test ran just before one.
    job = await create(live, tenant, cron_job("0 0 1 1 *"))
    empty = await stats(live, tenant, job.id)
    assert (empty.total_executions, empty.success_rate) == (0, 0.0)
    assert list(empty.executions_by_status) == []
    assert not empty.HasField("avg_duration") and not empty.HasField("p95_duration")
    assert not empty.HasField("last_run") and empty.next_run == job.next_run

    await insert_runs(live, tenant, job.id, (ExecutionStatus.RUNNING, None))
    running = await stats(live, tenant, job.id)
    assert by_status(running.executions_by_status) == {S.EXECUTION_STATUS_RUNNING: 1}
    assert (running.total_executions, running.success_rate) == (1, 0.0)


async def test_p95_reads_only_the_latest_sample(
    live: Live, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(insight_store, "P95_SAMPLE_LIMIT", 4)
    job = await create(live, tenant, cron_job())
    # Oldest first: the two slow runs fall out of a sample of the latest four.
    durations = [90_000, 80_000, 10, 40, 20, 30]
    await insert_runs(live, tenant, job.id, *[(ExecutionStatus.SUCCESS, d) for d in durations])
    got = await stats(live, tenant, job.id)
    assert got.p95_duration.ToMilliseconds() == 40
    assert got.avg_duration.ToMilliseconds() == round(sum(durations) / 6)  # mean of all


async def test_job_stats_of_another_platforms_or_unknown_job_is_not_found(
    live: Live, tenant: Tenant
) -> None:
    other = await make_tenant(live, "other")
    theirs = await create(live, other, cron_job())
    for job_id in (theirs.id, str(uuid.uuid4()), "nope", ""):
        await expect_code(
            live.scheduler.GetJobStats(pb.GetJobStatsRequest(job_id=job_id), metadata=tenant.auth),
            grpc.StatusCode.NOT_FOUND,
        )


# --- GetMetrics -----------------------------------------------------------------


async def metrics(live: Live, tenant: Tenant) -> insight_pb2.SchedulerMetrics:
    response = await live.scheduler.GetMetrics(pb.GetMetricsRequest(), metadata=tenant.auth)
    return response.metrics


async def test_metrics_count_the_callers_platform_only(live: Live, tenant: Tenant) -> None:
    empty = await metrics(live, tenant)
    assert empty == insight_pb2.SchedulerMetrics()

    active = await create(live, tenant, cron_job(name="a"))
    await create(live, tenant, cron_job(name="b"))
    paused = await create(live, tenant, cron_job(name="c"))
    await live.scheduler.PauseJob(pb.PauseJobRequest(id=paused.id), metadata=tenant.auth)
    once = job_pb2.Job(
        name="o", handler_name="h", once=job_pb2.OnceTrigger(run_at=ts(utc(2040, 1, 1)))
    )
    await create(live, tenant, once)
    interval = await create(
        live,
        tenant,
        job_pb2.Job(
            name="i", handler_name="h", interval=job_pb2.IntervalTrigger(every=seconds(60))
        ),
    )
    await live.scheduler.CancelJob(pb.CancelJobRequest(id=interval.id), metadata=tenant.auth)
    await create(
        live,
        tenant,
        job_pb2.Job(name="e", handler_name="h", event=job_pb2.EventTrigger(event_name="x")),
    )
    for _ in range(2):
        await live.scheduler.RunJob(pb.RunJobRequest(id=active.id), metadata=tenant.auth)
    await live.scheduler.TriggerEvent(pb.TriggerEventRequest(event_name="x"), metadata=tenant.auth)
    await insert_runs(
        live,
        tenant,
        active.id,
        (ExecutionStatus.RUNNING, None),
        (ExecutionStatus.SUCCESS, 10),
        (ExecutionStatus.SUCCESS, 20),
    )
    await insert_future_pending(live, tenant, active.id)
    other = await make_tenant(live, "other")
    theirs = await create(live, other, cron_job())
    await live.scheduler.RunJob(pb.RunJobRequest(id=theirs.id), metadata=other.auth)

    got = await metrics(live, tenant)

    assert by_status(got.jobs_by_status) == {
        job_pb2.JOB_STATUS_ACTIVE: 4,
        job_pb2.JOB_STATUS_PAUSED: 1,
        job_pb2.JOB_STATUS_CANCELLED: 1,
    }
    assert [(c.type, c.count) for c in got.jobs_by_type] == [
        (job_pb2.JOB_TYPE_CRON, 3),
        (job_pb2.JOB_TYPE_ONE_TIME, 1),
        (job_pb2.JOB_TYPE_RECURRING, 1),
        (job_pb2.JOB_TYPE_EVENT, 1),
    ]
    assert [(c.status, c.count) for c in got.executions_by_status] == [
        (S.EXECUTION_STATUS_PENDING, 4),
        (S.EXECUTION_STATUS_RUNNING, 1),
        (S.EXECUTION_STATUS_SUCCESS, 2),
    ]
    assert got.queue_depth == 3  # two RunJob, one event job run; not the one due in an hour
    assert got.connected_workers == 0
    assert (await metrics(live, other)).queue_depth == 1


async def insert_future_pending(live: Live, tenant: Tenant, job_id: str) -> None:
    engine = live.running.engine
    job = await SqlJobStore(engine).get_job(tenant.platform.id, job_id)
    later = datetime.now(UTC) + timedelta(hours=1)
    run = execution_rules.for_job(job, ExecutionTrigger.MANUAL, later, datetime.now(UTC))
    await SqlExecutionStore(engine).insert_many([run])


# --- GetHealth ------------------------------------------------------------------


async def test_health_reports_three_serving_components(live: Live, tenant: Tenant) -> None:
    health = (await live.scheduler.GetHealth(pb.GetHealthRequest(), metadata=tenant.auth)).health
    assert health.status == insight_pb2.HEALTH_STATUS_SERVING
    assert [(c.name, c.status) for c in health.components] == [
        ("database", insight_pb2.HEALTH_STATUS_SERVING),
        ("signals", insight_pb2.HEALTH_STATUS_SERVING),
        ("engine", insight_pb2.HEALTH_STATUS_SERVING),
    ]
    assert health.components[1].message == "in-process"
    assert health.components[2].message.startswith(("last tick 20", "starting"))
    latency = health.components[0].latency.ToTimedelta()
    assert timedelta(0) < latency < timedelta(seconds=5)
    await expect_code(
        live.scheduler.GetHealth(pb.GetHealthRequest()), grpc.StatusCode.UNAUTHENTICATED
    )


class BrokenEngine:
    async def signals(self) -> ComponentHealth:
        return ComponentHealth("signals", HealthStatus.DEGRADED, "redis down: polling")

    async def engine(self) -> ComponentHealth:
        raise RuntimeError("probe bug")


async def test_health_answers_when_everything_is_down(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}")
    try:
        deps = SchedulerDeps(
            **scheduler_stores(engine),
            health=BrokenEngine(),
            event_batcher=EventBatcher(SqlEventDeliveryStore(engine)),
            workers_connected=lambda platform_id: 0,
        )
        response = await SchedulerServicer(deps).GetHealth(pb.GetHealthRequest(), None)  # type: ignore[arg-type]
    finally:
        await engine.dispose()
    health = response.health
    assert health.status == insight_pb2.HEALTH_STATUS_NOT_SERVING
    database, signals, probe = health.components
    assert (database.name, database.status) == ("database", insight_pb2.HEALTH_STATUS_NOT_SERVING)
    assert database.message == "unreachable: OperationalError"
    assert (signals.status, signals.message) == (
        insight_pb2.HEALTH_STATUS_DEGRADED,
        "redis down: polling",
    )
    assert (probe.name, probe.status) == ("engine", insight_pb2.HEALTH_STATUS_NOT_SERVING)
