"""PauseJob's `until` over a live server: shown on the job, cleared by
ResumeJob, and ended by the ticker at that instant, once across replicas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from cronstream.v1 import job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.server import Running, start

from tests.conftest import Live, Tenant, make_tenant, serving_live
from tests.integration.test_metrics import scrape, settings, value
from tests.integration.test_ticker import eventually, executions_of, job_of
from tests.jobs import create, cron_job, seconds, ts
from tests.status import expect_code, violations

EVERY = timedelta(seconds=0.5)


def at(message: object) -> datetime:
    return message.ToDatetime(tzinfo=UTC)  # type: ignore[attr-defined,no-any-return]


async def pause(live: Live, tenant: Tenant, job_id: str, until: datetime | None) -> job_pb2.Job:
    request = pb.PauseJobRequest(id=job_id, until=ts(until) if until else None)
    return (await live.scheduler.PauseJob(request, metadata=tenant.auth)).job


async def test_paused_until_is_shown_set_anew_and_cleared_by_resume(
    live: Live, tenant: Tenant
) -> None:
    job = await create(live, tenant, cron_job("0 0 1 1 *"))
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)

    paused = await pause(live, tenant, job.id, until)

    assert paused.status == job_pb2.JOB_STATUS_PAUSED and at(paused.paused_until) == until
    assert at((await job_of(live, tenant, job.id)).paused_until) == until
    listed = await live.scheduler.ListJobs(pb.ListJobsRequest(), metadata=tenant.auth)
    assert [at(j.paused_until) for j in listed.jobs] == [until]
    later = await pause(live, tenant, job.id, until + timedelta(days=1))
    assert at(later.paused_until) == until + timedelta(days=1)
    assert not (await pause(live, tenant, job.id, None)).HasField("paused_until")
    await pause(live, tenant, job.id, until)
    resumed = (
        await live.scheduler.ResumeJob(pb.ResumeJobRequest(id=job.id), metadata=tenant.auth)
    ).job
    assert resumed.status == job_pb2.JOB_STATUS_ACTIVE and not resumed.HasField("paused_until")
    assert not (await job_of(live, tenant, job.id)).HasField("paused_until")


async def test_an_until_not_in_the_future_is_refused(live: Live, tenant: Tenant) -> None:
    job = await create(live, tenant, cron_job("0 0 1 1 *"))
    past = datetime.now(UTC) - timedelta(seconds=1)

    error = await expect_code(
        live.scheduler.PauseJob(
            pb.PauseJobRequest(id=job.id, until=ts(past)), metadata=tenant.auth
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )

    assert violations(error) == {"until": "must be in the future"}
    assert (await job_of(live, tenant, job.id)).status == job_pb2.JOB_STATUS_ACTIVE


async def test_a_job_paused_until_an_instant_resumes_by_itself_and_runs_that_slot(
    live: Live, tenant: Tenant
) -> None:
    start_at = datetime.now(UTC) + timedelta(milliseconds=300)
    job = await create(
        live,
        tenant,
        job_pb2.Job(
            name="every half second",
            handler_name="h",
            interval=job_pb2.IntervalTrigger(every=seconds(0.5), start_at=ts(start_at)),
        ),
    )
    until = start_at + 3 * EVERY  # a slot's instant: it belongs to the resumed job

    paused = await pause(live, tenant, job.id, until)

    async def resumed() -> bool:
        return (await job_of(live, tenant, job.id)).status == job_pb2.JOB_STATUS_ACTIVE

    await eventually(resumed, within=10.0)
    assert not (await job_of(live, tenant, job.id)).HasField("paused_until")

    async def fired_at_until() -> bool:
        return any(at(e.scheduled_at) == until for e in await executions_of(live, tenant, job.id))

    await eventually(fired_at_until)
    runs = await executions_of(live, tenant, job.id)
    # Slots that fell while paused never run, nor are recorded: no burst at the resume.
    paused_from = at(paused.next_run)
    assert not [e for e in runs if paused_from <= at(e.scheduled_at) < until]
    [on_time] = [e for e in runs if at(e.scheduled_at) == until]
    # Woken for the instant, not by the fallback poll (5 s).
    assert until <= at(on_time.created_at) < until + timedelta(seconds=2)
    seen = await scrape(live.running.metrics_port or 0)
    skipped = value(
        seen,
        "cronstream_slots_skipped_total",
        platform=tenant.platform.id,
        handler="h",
        reason="paused",
    )
    assert skipped == slots_between(paused_from, until) >= 1


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    """A server that reports /metrics (the skipped-slot count)."""
    async with serving_live(settings(database_url)) as server:
        yield server


@pytest.fixture
async def tenant(live: Live) -> Tenant:
    return await make_tenant(live, "acme")


def slots_between(first: datetime, until: datetime) -> int:
    """Slots of an EVERY schedule from `first` up to `until`, excluded."""
    return max(0, -(-(until - first) // EVERY))


async def test_two_replicas_resume_each_job_once(live: Live, tenant: Tenant) -> None:
    if live.database_url.startswith("sqlite"):
        pytest.skip("one process per SQLite database: replicas need Postgres")
    second: Running = await start(settings(live.database_url))
    try:
        start_at = datetime.now(UTC) + timedelta(milliseconds=200)
        trigger = job_pb2.IntervalTrigger(every=seconds(0.5), start_at=ts(start_at))
        jobs = [
            await create(
                live, tenant, job_pb2.Job(name=f"j{i}", handler_name="twice", interval=trigger)
            )
            for i in range(10)
        ]
        until = start_at + 4 * EVERY
        paused = [await pause(live, tenant, job.id, until) for job in jobs]

        async def all_resumed() -> bool:
            found = [await job_of(live, tenant, job.id) for job in jobs]
            return all(j.status == job_pb2.JOB_STATUS_ACTIVE for j in found)

        await eventually(all_resumed, within=10.0)
        ports = [live.running.metrics_port, second.metrics_port]
        counted = [
            value(
                await scrape(port or 0),
                "cronstream_slots_skipped_total",
                platform=tenant.platform.id,
                handler="twice",
                reason="paused",
            )
            for port in ports
        ]
    finally:
        await second.stop()
    # Each job's slots from its next run as paused up to `until` are counted
    # once, by whichever replica resumed it: a second resume would count them again.
    expected = sum(slots_between(at(p.next_run), until) for p in paused)
    assert expected >= len(jobs)
    assert sum(counted) == expected, counted
    for job in jobs:
        scheduled = [at(e.scheduled_at) for e in await executions_of(live, tenant, job.id)]
        assert scheduled.count(until) == 1
