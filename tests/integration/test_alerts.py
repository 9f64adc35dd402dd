"""Alerts on a live server, on SQLite and Postgres: a job's health policy,
the alerts its departures open and resolve, ListAlerts and WatchAlerts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc
import pytest
from cronstream import Context, Worker
from cronstream.v1 import alert_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.config import Settings
from cronstream_server.server import start
from google.protobuf import duration_pb2, field_mask_pb2

from tests.conftest import ADMIN_KEY, Live, Tenant
from tests.jobs import create, ts

T = TypeVar("T")
OPENED, RESOLVED = alert_pb2.ALERT_EVENT_TYPE_OPENED, alert_pb2.ALERT_EVENT_TYPE_RESOLVED
LATE, MISSED = job_pb2.HEALTH_STATE_LATE, job_pb2.HEALTH_STATE_MISSED
FAILING, HEALTHY = job_pb2.HEALTH_STATE_FAILING, job_pb2.HEALTH_STATE_HEALTHY


def span(value: float) -> duration_pb2.Duration:
    message = duration_pb2.Duration()
    message.FromTimedelta(timedelta(seconds=value))
    return message


async def alerts_of(live: Live, tenant: Tenant, job_id: str) -> list[alert_pb2.Alert]:
    response = await live.scheduler.ListAlerts(
        pb.ListAlertsRequest(job_id=job_id), metadata=tenant.auth
    )
    return list(response.alerts)


async def until(check: Callable[[], Awaitable[T | None]], seconds: float = 10.0) -> T:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "not seen in time"
        await asyncio.sleep(0.05)


async def get_job(live: Live, tenant: Tenant, job_id: str) -> job_pb2.Job:
    return (await live.scheduler.GetJob(pb.GetJobRequest(id=job_id), metadata=tenant.auth)).job


@asynccontextmanager
async def working(
    live: Live, tenant: Tenant, handler: str, fn: Callable[[Context], Awaitable[dict[str, Any]]]
) -> AsyncIterator[Worker]:
    worker = Worker(api_key=tenant.secret, target=live.address, grace_period=2.0)
    worker.handler(handler)(fn)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await task


async def test_a_firing_nobody_starts_is_late_within_a_second_then_resolves(
    live: Live, tenant: Tenant
) -> None:
    due = datetime.now(UTC) + timedelta(seconds=1)
    job = await create(
        live,
        tenant,
        job_pb2.Job(
            name="report",
            handler_name="report",
            once=job_pb2.OnceTrigger(run_at=ts(due)),
            health_policy=job_pb2.HealthPolicy(max_start_delay=span(1)),
        ),
    )

    async def opened() -> alert_pb2.Alert | None:
        found = [a for a in await alerts_of(live, tenant, job.id) if a.kind == LATE]
        return found[0] if found else None

    alert = await until(opened)
    seen_at = datetime.now(UTC)
    assert seen_at - (due + timedelta(seconds=1)) < timedelta(seconds=1)
    assert alert.state == alert_pb2.ALERT_STATE_OPEN and alert.job_name == "report"
    assert alert.scheduled_at.ToDatetime(UTC) == due.replace(microsecond=due.microsecond)
    assert "has not started 1 s after it was due" in alert.reason
    health = (await get_job(live, tenant, job.id)).health
    assert health.state == LATE and health.reason == alert.reason

    async def report(ctx: Context) -> dict[str, Any]:
        return {}

    async with working(live, tenant, "report", report):

        async def resolved() -> alert_pb2.Alert | None:
            found = [a for a in await alerts_of(live, tenant, job.id) if a.kind == LATE]
            return found[0] if found[0].state == alert_pb2.ALERT_STATE_RESOLVED else None

        done = await until(resolved)
    assert done.resolved_at.ToDatetime(UTC) >= alert.opened_at.ToDatetime(UTC)
    assert (await get_job(live, tenant, job.id)).health.state == HEALTHY
    listed = await live.scheduler.ListJobs(pb.ListJobsRequest(healths=[LATE]), metadata=tenant.auth)
    assert list(listed.jobs) == []


async def test_failing_three_times_in_a_row_pauses_the_job_that_asks(
    live: Live, tenant: Tenant
) -> None:
    job = await create(
        live,
        tenant,
        job_pb2.Job(
            name="sync",
            handler_name="sync",
            cron=job_pb2.CronTrigger(expression="0 0 1 1 *"),
            max_retries=0,
            health_policy=job_pb2.HealthPolicy(pause_on_failure=True),
        ),
    )

    async def fail(ctx: Context) -> dict[str, Any]:
        raise RuntimeError("upstream down")

    async with working(live, tenant, "sync", fail):
        for _ in range(3):
            run = await live.scheduler.RunJob(pb.RunJobRequest(id=job.id), metadata=tenant.auth)

            async def finished(execution_id: str = run.execution.id) -> bool:
                got = await live.scheduler.GetExecution(
                    pb.GetExecutionRequest(id=execution_id), metadata=tenant.auth
                )
                return got.execution.completed_at.seconds > 0

            await until(finished)

    alerts = await alerts_of(live, tenant, job.id)
    assert [(a.kind, a.state) for a in alerts] == [(FAILING, alert_pb2.ALERT_STATE_OPEN)]
    assert alerts[0].paused_job
    assert alerts[0].reason == "3 attempts in a row failed or timed out; the job paused itself"
    after = await get_job(live, tenant, job.id)
    assert after.status == job_pb2.JOB_STATUS_PAUSED and after.health.state == FAILING


async def test_a_slot_the_overlap_policy_skips_is_missed_until_a_later_one_runs(
    live: Live, tenant: Tenant
) -> None:
    release = asyncio.Event()

    async def slow(ctx: Context) -> dict[str, Any]:
        await release.wait()
        return {}

    job = await create(
        live,
        tenant,
        job_pb2.Job(
            name="tick",
            handler_name="tick",
            interval=job_pb2.IntervalTrigger(every=span(1)),
            overlap_policy=job_pb2.OVERLAP_POLICY_SKIP,
        ),
    )
    async with working(live, tenant, "tick", slow):

        async def missed() -> alert_pb2.Alert | None:
            found = [a for a in await alerts_of(live, tenant, job.id) if a.kind == MISSED]
            return found[0] if found else None

        alert = await until(missed)
        assert "overlap: previous run not finished" in alert.reason
        assert (await get_job(live, tenant, job.id)).health.state == MISSED
        release.set()

        async def resolved() -> bool:
            found = [a for a in await alerts_of(live, tenant, job.id) if a.kind == MISSED]
            return found[-1].state == alert_pb2.ALERT_STATE_RESOLVED

        await until(resolved)
        await live.scheduler.PauseJob(pb.PauseJobRequest(id=job.id), metadata=tenant.auth)


async def test_watch_alerts_resumes_from_its_cursor_with_nothing_lost_or_repeated(
    live: Live, tenant: Tenant
) -> None:
    job = await create(
        live,
        tenant,
        job_pb2.Job(
            name="nightly",
            handler_name="nightly",
            cron=job_pb2.CronTrigger(expression="0 0 1 1 *"),
            max_retries=0,
            health_policy=job_pb2.HealthPolicy(consecutive_failures=1),
        ),
    )
    first = live.scheduler.WatchAlerts(pb.WatchAlertsRequest(), metadata=tenant.auth)
    start = await asyncio.wait_for(first.read(), 5)  # from now: where that is, no event
    assert not start.HasField("event") and start.cursor >= 0

    outcome = {"fail": True}

    async def handler(ctx: Context) -> dict[str, Any]:
        if outcome["fail"]:
            raise RuntimeError("boom")
        return {}

    async def run_once() -> None:
        run = await live.scheduler.RunJob(pb.RunJobRequest(id=job.id), metadata=tenant.auth)

        async def finished() -> bool:
            got = await live.scheduler.GetExecution(
                pb.GetExecutionRequest(id=run.execution.id), metadata=tenant.auth
            )
            return got.execution.completed_at.seconds > 0

        await until(finished)

    async with working(live, tenant, "nightly", handler):
        await run_once()
        opened = await asyncio.wait_for(first.read(), 5)
        assert opened.event.type == OPENED and opened.event.alert.kind == FAILING
        assert opened.cursor == opened.event.cursor > start.cursor
        first.cancel()
        outcome["fail"] = False
        await run_once()  # resolves while nobody watches
    second = live.scheduler.WatchAlerts(
        pb.WatchAlertsRequest(after_cursor=opened.event.cursor), metadata=tenant.auth
    )
    resolved = await asyncio.wait_for(second.read(), 5)
    assert resolved.event.type == RESOLVED and resolved.event.alert.id == opened.event.alert.id
    assert resolved.event.cursor > opened.event.cursor
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(second.read(), 0.8)  # nothing repeated, nothing more
    second.cancel()


async def test_a_health_policy_out_of_range_is_refused_naming_the_field(
    live: Live, tenant: Tenant
) -> None:
    cases = {
        "job.health_policy.consecutive_failures": job_pb2.HealthPolicy(consecutive_failures=0),
        "job.health_policy.max_start_delay": job_pb2.HealthPolicy(max_start_delay=span(-1)),
        "job.health_policy.max_duration": job_pb2.HealthPolicy(max_duration=span(8 * 86400)),
    }
    for field, policy in cases.items():
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await create(
                live,
                tenant,
                job_pb2.Job(
                    name="x",
                    handler_name="x",
                    cron=job_pb2.CronTrigger(expression="0 0 1 1 *"),
                    health_policy=policy,
                ),
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in (raised.value.details() or ""), (field, raised.value.details())


async def test_update_mask_sets_the_policy_and_get_shows_it(live: Live, tenant: Tenant) -> None:
    job = await create(
        live,
        tenant,
        job_pb2.Job(name="x", handler_name="x", cron=job_pb2.CronTrigger(expression="0 0 1 1 *")),
    )
    assert job.health.state == HEALTHY
    assert not job.health_policy.HasField("consecutive_failures")
    updated = await live.scheduler.UpdateJob(
        pb.UpdateJobRequest(
            job=job_pb2.Job(
                id=job.id,
                health_policy=job_pb2.HealthPolicy(
                    max_duration=span(90), consecutive_failures=5, alert_on_missed=False
                ),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["health_policy"]),
        ),
        metadata=tenant.auth,
    )
    policy = updated.job.health_policy
    assert policy.max_duration.ToTimedelta() == timedelta(seconds=90)
    assert (policy.consecutive_failures, policy.alert_on_missed) == (5, False)
    assert (await get_job(live, tenant, job.id)).health_policy == policy


async def test_platform_defaults_apply_to_jobs_that_leave_a_field_unset(
    live: Live, tenant: Tenant
) -> None:
    empty = await live.scheduler.GetHealthDefaults(
        pb.GetHealthDefaultsRequest(), metadata=tenant.auth
    )
    assert empty.policy == job_pb2.HealthPolicy()
    stored = await live.scheduler.SetHealthDefaults(
        pb.SetHealthDefaultsRequest(policy=job_pb2.HealthPolicy(max_start_delay=span(1))),
        metadata=tenant.auth,
    )
    assert stored.policy.max_start_delay.ToTimedelta() == timedelta(seconds=1)
    due = datetime.now(UTC) + timedelta(milliseconds=500)
    follows = await create(
        live,
        tenant,
        job_pb2.Job(name="a", handler_name="a", once=job_pb2.OnceTrigger(run_at=ts(due))),
    )
    opts_out = await create(
        live,
        tenant,
        job_pb2.Job(
            name="b",
            handler_name="b",
            once=job_pb2.OnceTrigger(run_at=ts(due)),
            health_policy=job_pb2.HealthPolicy(max_start_delay=span(0)),
        ),
    )

    async def late() -> bool:
        return any(a.kind == LATE for a in await alerts_of(live, tenant, follows.id))

    await until(late)
    await asyncio.sleep(0.5)
    assert await alerts_of(live, tenant, opts_out.id) == []  # zero: never late, its own say
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await live.scheduler.SetHealthDefaults(
            pb.SetHealthDefaultsRequest(policy=job_pb2.HealthPolicy(consecutive_failures=101)),
            metadata=tenant.auth,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "policy.consecutive_failures" in (raised.value.details() or "")


async def test_two_replicas_open_an_alert_once(live: Live, tenant: Tenant) -> None:
    if live.database_url.startswith("sqlite"):
        pytest.skip("one process per SQLite database")
    second = await start(
        Settings(
            listen="127.0.0.1:0",
            database_url=live.database_url,
            admin_key=ADMIN_KEY,
            shutdown_grace_seconds=1.0,
        )
    )
    try:
        watch = live.scheduler.WatchAlerts(pb.WatchAlertsRequest(), metadata=tenant.auth)
        assert not (await asyncio.wait_for(watch.read(), 5)).HasField("event")  # the start
        jobs = [
            await create(
                live,
                tenant,
                job_pb2.Job(
                    name=f"j{n}",
                    handler_name="nobody",
                    once=job_pb2.OnceTrigger(run_at=ts(datetime.now(UTC))),
                    health_policy=job_pb2.HealthPolicy(max_start_delay=span(0.5)),
                ),
            )
            for n in range(5)
        ]
        seen = [(await asyncio.wait_for(watch.read(), 5)).event for _ in jobs]
        assert sorted(e.alert.job_id for e in seen) == sorted(j.id for j in jobs)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(watch.read(), 1.0)  # each opened once, not twice
        watch.cancel()
    finally:
        await second.stop()


async def test_an_execution_running_past_its_limit_is_overrunning_until_it_ends(
    live: Live, tenant: Tenant
) -> None:
    job = await create(
        live,
        tenant,
        job_pb2.Job(
            name="export",
            handler_name="export",
            cron=job_pb2.CronTrigger(expression="0 0 1 1 *"),
            health_policy=job_pb2.HealthPolicy(max_duration=span(0.5)),
        ),
    )
    finish = asyncio.Event()

    async def export(ctx: Context) -> dict[str, Any]:
        await finish.wait()
        return {}

    async with working(live, tenant, "export", export):
        await live.scheduler.RunJob(pb.RunJobRequest(id=job.id), metadata=tenant.auth)

        async def overrunning() -> alert_pb2.Alert | None:
            found = await alerts_of(live, tenant, job.id)
            return found[0] if found else None

        alert = await until(overrunning)
        assert alert.kind == job_pb2.HEALTH_STATE_OVERRUNNING
        assert "has run longer than 0.5 s" in alert.reason
        assert (
            await get_job(live, tenant, job.id)
        ).health.state == job_pb2.HEALTH_STATE_OVERRUNNING
        finish.set()

        async def resolved() -> bool:
            [only] = await alerts_of(live, tenant, job.id)
            return only.state == alert_pb2.ALERT_STATE_RESOLVED

        await until(resolved)
    assert (await get_job(live, tenant, job.id)).health.state == HEALTHY
