"""The Python `Client`'s scheduling controls against a live in-process server,
on SQLite and Postgres: pause until, bulk pause and resume, backfill, the
preview's DST marks, rate limits, and jobs with concurrency limits,
rate-limit keys and dependencies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from cronstream import (
    Backfill,
    BulkChange,
    Client,
    ConcurrencyLimit,
    ExecutionStatus,
    ExecutionTrigger,
    InvalidArgumentError,
    JobStatus,
    NotFoundError,
)

from tests.conftest import Live, Tenant
from tests.integration.worker_harness import eventually

# Far from any test run's wall clock, so the engine never fires these meanwhile.
YEARLY = "0 3 1 1 *"


@pytest.fixture
async def client(live: Live, tenant: Tenant) -> AsyncIterator[Client]:
    async with Client.connect(live.address, tenant.secret) as client:
        yield client


def whole_hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


async def test_pause_until_reads_back_and_a_plain_pause_clears_it(client: Client) -> None:
    job = await client.create_job(name="report", handler="h", cron=YEARLY)
    until = whole_hour(datetime.now(UTC)) + timedelta(hours=3)
    paused = await client.pause_job(job.id, until=until)
    assert (paused.status, paused.paused_until) == (JobStatus.PAUSED, until)
    assert (await client.get_job(job.id)).paused_until == until
    again = await client.pause_job(job.id)  # pausing anew without until: until resume_job
    assert (again.status, again.paused_until) == (JobStatus.PAUSED, None)
    with pytest.raises(InvalidArgumentError):
        await client.pause_job(job.id, until=datetime.now(UTC) - timedelta(minutes=1))


async def test_pause_and_resume_jobs_by_tag_in_batches(client: Client) -> None:
    tagged = [
        await client.create_job(name=f"etl-{i}", handler="load", cron=YEARLY, tags=["etl"])
        for i in range(5)
    ]
    other = await client.create_job(name="other", handler="load", cron=YEARLY, tags=["web"])
    assert await client.pause_jobs(tags=["etl"], limit=2) == BulkChange(2, 3)
    assert await client.pause_matching_jobs(tags=["etl"], limit=2) == BulkChange(3, 0)
    statuses = {j.id: j.status async for j in client.list_jobs()}
    assert {statuses[j.id] for j in tagged} == {JobStatus.PAUSED}
    assert statuses[other.id] is JobStatus.ACTIVE
    assert await client.resume_matching_jobs(tags=["etl"], handler="load") == BulkChange(5, 0)
    assert await client.resume_jobs(tags=["etl"]) == BulkChange(0, 0)


async def test_a_bulk_call_refuses_an_empty_selector(client: Client) -> None:
    with pytest.raises(InvalidArgumentError):
        await client.pause_jobs()
    with pytest.raises(InvalidArgumentError):
        await client.resume_jobs(limit=100_000)


async def test_a_backfill_creates_each_past_instant_once(client: Client) -> None:
    job = await client.create_job(name="hourly", handler="h", cron="0 * * * *")
    end = whole_hour(datetime.now(UTC)) - timedelta(hours=1)
    start = end - timedelta(hours=6)
    assert await client.backfill_job(job.id, start, end) == Backfill(6, 6, 0)
    assert await client.backfill_job(job.id, start, end, overlap_policy="allow") == Backfill(
        6, 0, 6
    )
    backfilled = [
        e async for e in client.list_executions(job_id=job.id) if e.scheduled_at is not None
    ]
    backfilled = [e for e in backfilled if e.trigger is ExecutionTrigger.BACKFILL]
    assert sorted(e.scheduled_at for e in backfilled) == [
        start + timedelta(hours=h) for h in range(6)
    ]
    with pytest.raises(InvalidArgumentError):
        await client.backfill_job(job.id, start, end, overlap_policy="skip")
    with pytest.raises(NotFoundError):
        await client.backfill_job("j_missing", start, end)


async def test_the_preview_marks_a_spring_jump_in_berlin(client: Client) -> None:
    preview = await client.preview(
        cron="30 2 * * *",
        timezone="Europe/Berlin",
        after=datetime(2026, 3, 28, tzinfo=UTC),
        before=datetime(2026, 3, 31, tzinfo=UTC),
    )
    jump = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:00 CET becomes 03:00 CEST
    assert preview.times == [
        datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
        jump,
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    ]
    shifted = [i for i in preview.instants if i.shifted]
    assert [(i.time, i.scheduled_wall_time) for i in shifted] == [(jump, "02:30")]
    assert shifted[0].local_time is not None
    assert shifted[0].local_time.isoformat() == "2026-03-29T03:00:00+02:00"
    assert [i.utc_offset for i in preview.instants] == [
        timedelta(hours=1),
        timedelta(hours=2),
        timedelta(hours=2),
    ]
    (change,) = preview.summary.clock_changes
    assert (change.at, change.offset_before, change.offset_after) == (
        jump,
        timedelta(hours=1),
        timedelta(hours=2),
    )
    assert preview.summary.instants_per_month == {"2026-03": 3}
    assert not preview.summary.truncated


async def test_the_preview_of_an_existing_job(client: Client) -> None:
    job = await client.create_job(name="daily", handler="h", cron="0 6 * * *")
    after = datetime(2027, 1, 1, tzinfo=UTC)
    preview = await client.preview(job_id=job.id, after=after, count=3)
    assert preview.times == [after + timedelta(days=d, hours=6) for d in range(3)]
    assert preview.summary.p95_duration is None  # no successful execution to measure yet
    with pytest.raises(NotFoundError):
        await client.preview(job_id="j_missing")


async def test_rate_limits_are_set_listed_replaced_and_deleted(client: Client) -> None:
    by_key = await client.set_rate_limit(
        key="customer:{payload.id}", limit=10, per=timedelta(seconds=1), burst=20
    )
    assert (by_key.key, by_key.limit, by_key.per, by_key.burst) == (
        "customer:{payload.id}",
        10,
        timedelta(seconds=1),
        20,
    )
    await client.set_rate_limit(handler="send_sms", limit=100, per=timedelta(minutes=1))
    replaced = await client.set_rate_limit(
        key="customer:{payload.id}", limit=5, per=timedelta(seconds=1)
    )
    assert (replaced.limit, replaced.burst) == (5, 5)  # burst defaults to the limit
    listed = await client.list_rate_limits()
    assert {(r.key, r.handler_name, r.limit) for r in listed} == {
        ("customer:{payload.id}", "", 5),
        ("", "send_sms", 100),
    }
    await client.delete_rate_limit(handler="send_sms")
    assert [r.key for r in await client.list_rate_limits()] == ["customer:{payload.id}"]
    with pytest.raises(NotFoundError):
        await client.delete_rate_limit(handler="send_sms")
    with pytest.raises(InvalidArgumentError):
        await client.set_rate_limit(key="k", limit=0, per=timedelta(seconds=1))


async def test_a_job_keeps_its_limits_and_dependencies(client: Client) -> None:
    upstream = await client.create_job(name="extract", handler="extract", cron=YEARLY)
    job = await client.create_job(
        name="load",
        handler="load",
        cron=YEARLY,
        concurrency=ConcurrencyLimit("warehouse", 2),
        rate_limit_key="customer:{payload.id}",
        depends_on=[upstream.id],
        max_wait=timedelta(hours=2),
    )
    read = await client.get_job(job.id)
    assert read.concurrency == ConcurrencyLimit("warehouse", 2)
    assert (read.rate_limit_key, read.depends_on) == ("customer:{payload.id}", (upstream.id,))
    assert read.max_wait == timedelta(hours=2)
    updated = await client.update_job(job.id, max_wait=timedelta(minutes=10))
    assert updated.max_wait == timedelta(minutes=10)
    assert updated.concurrency == ConcurrencyLimit("warehouse", 2)  # the mask left it alone


async def test_a_backfilled_slot_waits_for_its_dependency(client: Client) -> None:
    upstream = await client.create_job(name="extract", handler="extract", cron="0 * * * *")
    job = await client.create_job(
        name="load", handler="load", cron="0 * * * *", depends_on=[upstream.id]
    )
    end = whole_hour(datetime.now(UTC)) - timedelta(hours=1)
    # Both backfilled over the same hour; no worker runs the upstream's slot.
    assert (await client.backfill_job(upstream.id, end - timedelta(hours=1), end)).created == 1
    assert (await client.backfill_job(job.id, end - timedelta(hours=1), end)).created == 1

    async def judged() -> bool:  # the gate names what it waits for once it has looked
        found = [e async for e in client.list_executions(job_id=job.id, statuses=["waiting"])]
        return bool(found) and bool(found[0].waiting_for)

    await eventually(judged)
    (waiting,) = [e async for e in client.list_executions(job_id=job.id, statuses=["waiting"])]
    assert waiting.status is ExecutionStatus.WAITING and not waiting.status.final
    assert waiting.trigger is ExecutionTrigger.BACKFILL
    assert waiting.waiting_for == (upstream.id,)
    assert waiting.wait_deadline is None  # a backfilled slot waits as long as it takes
