"""The Python `Client` against a live in-process server, on SQLite and Postgres:
every method with real values, paging, and the typed errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from cronstream import (
    Client,
    CronTrigger,
    EventTrigger,
    ExecutionStatus,
    ExecutionTrigger,
    FailedPreconditionError,
    FieldViolation,
    HealthStatus,
    IntervalTrigger,
    InvalidArgumentError,
    JobStatus,
    JobType,
    LogLevel,
    MisfirePolicy,
    NotFoundError,
    OnceTrigger,
    OverlapPolicy,
    Priority,
    UnauthenticatedError,
)
from cronstream_server.store.tables import job_execution_logs

from tests.conftest import Live, Tenant, make_tenant

T = TypeVar("T")

# Far from any test run's wall clock, so the engine never fires these meanwhile.
YEARLY = "0 3 1 1 *"


@pytest.fixture
async def client(live: Live, tenant: Tenant) -> AsyncIterator[Client]:
    async with Client.connect(live.address, tenant.secret) as client:
        yield client


async def collect(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]


async def test_create_job_with_every_field_then_get(client: Client) -> None:
    job = await client.create_job(
        name="nightly report",
        handler="send_report",
        cron="30 2 * * *",
        timezone="Europe/Berlin",
        payload={"recipient": "ops@example.com", "limits": {"rows": 10, "ratio": 0.5}},
        max_retries=5,
        retry_delay=timedelta(seconds=30),
        timeout=timedelta(minutes=2),
        priority="high",
        tags=["reports", "nightly"],
        metadata={"team": "ops"},
        overlap_policy="skip",
        misfire_policy="run_all",
        catchup_window=timedelta(minutes=10),
        jitter=timedelta(seconds=3),
    )
    assert (job.name, job.handler_name) == ("nightly report", "send_report")
    assert job.trigger == CronTrigger("30 2 * * *", "Europe/Berlin")
    assert (job.type, job.status) == (JobType.CRON, JobStatus.ACTIVE)
    assert str(job.status) == "JobStatus.ACTIVE" and f"{job.priority}" == "Priority.HIGH"
    assert job.payload["limits"]["rows"] == 10
    assert (job.max_retries, job.retry_delay, job.timeout) == (
        5,
        timedelta(seconds=30),
        timedelta(minutes=2),
    )
    assert job.priority is Priority.HIGH
    assert job.tags == ("reports", "nightly") and job.metadata == {"team": "ops"}
    assert job.overlap_policy is OverlapPolicy.SKIP
    assert job.misfire_policy is MisfirePolicy.RUN_ALL
    assert (job.catchup_window, job.jitter) == (timedelta(minutes=10), timedelta(seconds=3))
    assert job.next_run is not None and job.next_run > datetime.now(UTC)
    assert job.proto.cron.expression == "30 2 * * *"  # the message it was read from
    assert await client.get_job(job.id) == job


async def test_once_every_and_event_triggers(client: Client) -> None:
    run_at = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    once = await client.create_job(name="once", handler="h", once=run_at)
    assert once.type is JobType.ONE_TIME and once.trigger == OnceTrigger(run_at)
    assert once.next_run == run_at

    start = datetime(2030, 6, 1, tzinfo=UTC)
    interval = await client.create_job(
        name="every 90 s",
        handler="h",
        every=timedelta(seconds=90),
        start_at=start,
        end_at=start + timedelta(hours=1),
        max_runs=5,
    )
    assert interval.type is JobType.RECURRING
    assert interval.trigger == IntervalTrigger(
        timedelta(seconds=90), start, start + timedelta(hours=1), 5
    )
    assert interval.next_run == start

    event = await client.create_job(name="on signup", handler="h", event="user.signup")
    assert event.type is JobType.EVENT and event.trigger == EventTrigger("user.signup")


async def test_create_is_idempotent_by_request_id(client: Client) -> None:
    first = await client.create_job(name="first", handler="h", cron=YEARLY, request_id="r-1")
    again = await client.create_job(name="second", handler="h", cron=YEARLY, request_id="r-1")
    assert again == first
    assert [j.name for j in await collect(client.list_jobs())] == ["first"]


async def test_create_jobs_in_one_batch(client: Client) -> None:
    run_at = datetime(2031, 1, 2, tzinfo=UTC)
    jobs = await client.create_jobs(
        [
            {"name": "cron", "handler": "h", "cron": YEARLY, "timezone": "Europe/Berlin"},
            {"name": "once", "handler": "h", "once": run_at, "payload": {"n": 1}},
            {"name": "event", "handler": "h", "event": "user.signup"},
        ],
        request_ids=["b-1", "b-2", ""],
    )
    assert [j.name for j in jobs] == ["cron", "once", "event"]
    assert jobs[1].next_run == run_at
    again = await client.create_jobs(
        [{"name": "x", "handler": "h", "cron": YEARLY}], request_ids=["b-2"]
    )
    assert again == [jobs[1]]
    assert await client.create_jobs([]) == []
    with pytest.raises(InvalidArgumentError) as caught:
        await client.create_jobs(
            [
                {"name": "ok", "handler": "h", "cron": YEARLY},
                {"name": "bad", "handler": "h", "cron": "61 * * * *"},
            ]
        )
    assert [v.field for v in caught.value.violations] == ["requests[1].job.cron.expression"]
    with pytest.raises(ValueError, match="request_ids"):
        await client.create_jobs(
            [{"name": "j", "handler": "h", "cron": YEARLY}], request_ids=["a", "b"]
        )
    assert len(await collect(client.list_jobs())) == 3


async def test_update_job_changes_only_the_fields_given(client: Client) -> None:
    job = await client.create_job(name="old", handler="h", cron=YEARLY, tags=["a"], max_retries=1)
    renamed = await client.update_job(job.id, name="new", payload={"n": 1})
    assert (renamed.name, renamed.payload["n"], renamed.tags) == ("new", 1, ("a",))
    assert renamed.max_retries == 1 and renamed.next_run == job.next_run

    moved = await client.update_job(job.id, cron="0 12 * * *", timezone="Asia/Tokyo")
    assert moved.trigger == CronTrigger("0 12 * * *", "Asia/Tokyo")
    assert moved.next_run != job.next_run
    assert moved.next_run is not None
    local = moved.next_run.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute) == (12, 0)

    zero = await client.update_job(job.id, max_retries=0, tags=[])
    assert zero.max_retries == 0 and zero.tags == ()


async def test_pause_resume_cancel_delete(client: Client) -> None:
    job = await client.create_job(name="j", handler="h", cron=YEARLY)
    assert (await client.pause_job(job.id)).status == JobStatus.PAUSED
    assert (await client.resume_job(job.id)).status == JobStatus.ACTIVE
    cancelled = await client.cancel_job(job.id)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.cancelled_at is not None

    with pytest.raises(FailedPreconditionError) as caught:
        await client.resume_job(job.id)
    assert caught.value.code.name == "FAILED_PRECONDITION"

    await client.delete_job(job.id)
    with pytest.raises(NotFoundError):
        await client.get_job(job.id)


async def test_list_jobs_follows_pages_and_filters(client: Client) -> None:
    made = [
        await client.create_job(
            name=f"job {i}",
            handler="even" if i % 2 == 0 else "odd",
            cron=YEARLY,
            tags=[f"t{i % 3}"],
        )
        for i in range(7)
    ]
    await client.pause_job(made[0].id)
    once = await client.create_job(
        name="once", handler="odd", once=datetime(2031, 1, 1, tzinfo=UTC)
    )

    everything = await collect(client.list_jobs(page_size=3))
    assert [j.id for j in everything] == [once.id, *[j.id for j in reversed(made)]]

    evens = await collect(client.list_jobs(handler="even", page_size=2))
    assert [j.name for j in evens] == ["job 6", "job 4", "job 2", "job 0"]
    paused = await collect(client.list_jobs(statuses=["paused"]))
    assert [j.id for j in paused] == [made[0].id]
    active_cron = await collect(client.list_jobs(statuses=["active"], types=["cron"], page_size=1))
    assert len(active_cron) == 6
    one_time = await collect(client.list_jobs(types=[JobType.ONE_TIME]))
    assert [j.id for j in one_time] == [once.id]
    tagged = await collect(client.list_jobs(tags=["t1"], page_size=1))
    assert [j.name for j in tagged] == ["job 4", "job 1"]


async def test_run_list_get_cancel_and_retry_executions(client: Client) -> None:
    job = await client.create_job(name="j", handler="h", cron=YEARLY, payload={"x": 1})
    other = await client.create_job(name="other", handler="h", cron=YEARLY)
    runs = [await client.run_job(job.id) for _ in range(3)]
    await client.run_job(other.id)
    first = runs[0]
    assert first.job_id == job.id and first.status == ExecutionStatus.PENDING
    assert first.trigger == ExecutionTrigger.MANUAL
    assert first.payload["x"] == 1 and first.attempt == 1
    assert await client.get_execution(first.id) == first

    listed = await collect(client.list_executions(job_id=job.id, page_size=2))
    assert [e.id for e in listed] == [r.id for r in reversed(runs)]
    assert len(await collect(client.list_executions(page_size=1))) == 4

    cancelled = await client.cancel_execution(first.id)
    assert cancelled.status == ExecutionStatus.CANCELLED
    only_cancelled = await collect(client.list_executions(job_id=job.id, statuses=["cancelled"]))
    assert [e.id for e in only_cancelled] == [first.id]
    with pytest.raises(FailedPreconditionError):
        await client.cancel_execution(first.id)

    retried = await client.retry_execution(first.id)
    assert retried.id == first.id
    assert (retried.status, retried.attempt) == (ExecutionStatus.PENDING, 2)
    with pytest.raises(FailedPreconditionError):
        await client.retry_execution(runs[1].id)  # pending: nothing to retry


async def test_list_execution_logs_pages_oldest_first(live: Live, client: Client) -> None:
    job = await client.create_job(name="j", handler="h", cron=YEARLY)
    execution = await client.run_job(job.id)
    base = datetime(2030, 1, 1, tzinfo=UTC)
    levels = ["debug", "info", "warn", "error", "info"]
    async with live.running.engine.begin() as conn:
        for i, level in enumerate(levels):
            await conn.execute(
                job_execution_logs.insert().values(
                    execution_id=execution.id,
                    timestamp=base + timedelta(seconds=i),
                    level=level,
                    message=f"line {i} 🚀",
                )
            )
    logs = await collect(client.list_execution_logs(execution.id, page_size=2))
    assert [log.message for log in logs] == [f"line {i} 🚀" for i in range(5)]
    assert [log.level for log in logs] == [
        LogLevel.DEBUG,
        LogLevel.INFO,
        LogLevel.WARN,
        LogLevel.ERROR,
        LogLevel.INFO,
    ]
    assert logs[0].time == base and logs[0].execution_id == execution.id


async def test_event_handlers_and_trigger_event(client: Client) -> None:
    welcome = await client.create_event_handler(
        event="user.signup",
        handler="send_welcome",
        payload={"template": "welcome"},
        priority="critical",
        max_retries=1,
        retry_delay=timedelta(seconds=10),
        timeout=timedelta(seconds=20),
    )
    assert (welcome.event_name, welcome.handler_name, welcome.enabled) == (
        "user.signup",
        "send_welcome",
        True,
    )
    assert welcome.priority == Priority.CRITICAL and welcome.max_retries == 1
    audit = await client.create_event_handler(event="user.signup", handler="audit", enabled=False)
    await client.create_event_handler(event="user.deleted", handler="cleanup")
    assert await client.get_event_handler(welcome.id) == welcome

    signups = await collect(client.list_event_handlers(event="user.signup", page_size=1))
    assert [h.id for h in signups] == [audit.id, welcome.id]
    assert len(await collect(client.list_event_handlers())) == 3

    ids = await client.trigger_event("user.signup", {"user": 42}, request_id="evt-1")
    assert len(ids) == 1
    delivered = await client.get_execution(ids[0])
    assert dict(delivered.payload) == {"template": "welcome", "user": 42}
    assert await client.trigger_event("user.signup", {"user": 43}, request_id="evt-1") == ids

    enabled = await client.update_event_handler(audit.id, enabled=True)
    assert enabled.enabled and enabled.handler_name == "audit"
    assert len(await client.trigger_event("user.signup")) == 2

    await client.delete_event_handler(audit.id)
    with pytest.raises(NotFoundError):
        await client.get_event_handler(audit.id)


async def test_preview_schedule(client: Client) -> None:
    after = datetime(2030, 3, 30, 12, tzinfo=UTC)
    berlin = await client.preview_schedule(
        cron="30 2 * * *", timezone="Europe/Berlin", after=after, count=3
    )
    # 2030-03-31 02:30 does not exist in Berlin: it fires once, right after the jump.
    assert berlin == [
        datetime(2030, 3, 31, 1, 0, tzinfo=UTC),
        datetime(2030, 4, 1, 0, 30, tzinfo=UTC),
        datetime(2030, 4, 2, 0, 30, tzinfo=UTC),
    ]
    start = datetime(2030, 1, 1, tzinfo=UTC)
    every = await client.preview_schedule(
        every=timedelta(hours=6), start_at=start, max_runs=2, after=start - timedelta(seconds=1)
    )
    assert every == [start, start + timedelta(hours=6)]
    assert len(await client.preview_schedule(cron="* * * * *")) == 10


async def test_stats_metrics_and_health(client: Client) -> None:
    job = await client.create_job(name="j", handler="h", cron=YEARLY)
    await client.run_job(job.id)
    stats = await client.get_job_stats(job.id)
    assert stats.job_id == job.id and stats.total_executions == 1

    metrics = await client.get_metrics()
    assert metrics.jobs_by_type.get(JobType.CRON) == 1
    assert metrics.executions_by_status.get(ExecutionStatus.PENDING) == 1
    assert stats.executions_by_status == {ExecutionStatus.PENDING: 1}

    health = await client.get_health()
    assert health.status == HealthStatus.SERVING
    assert {c.name for c in health.components} >= {"database"}


# --- errors -------------------------------------------------------------------


async def test_bad_cron_is_an_invalid_argument_naming_the_field(client: Client) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await client.create_job(name="bad", handler="h", cron="61 * * * *")
    error = caught.value
    assert error.code.name == "INVALID_ARGUMENT"
    assert [v.field for v in error.violations] == ["job.cron.expression"]
    assert isinstance(error.violations[0], FieldViolation) and error.violations[0].description
    assert "job.cron.expression" in str(error)


async def test_every_bad_field_is_named(client: Client) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await client.create_job(name="", handler="", cron="* * * * *", timezone="Mars/Olympus")
    fields = {v.field for v in caught.value.violations}
    assert {"job.name", "job.handler_name", "job.cron.timezone"} <= fields


async def test_unknown_and_foreign_ids_are_not_found(live: Live, client: Client) -> None:
    with pytest.raises(NotFoundError):
        await client.get_job("01a00000-0000-7000-8000-000000000000")
    with pytest.raises(NotFoundError):
        await client.get_execution("no-such-execution")
    other = await make_tenant(live, "other")
    async with Client.connect(live.address, other.secret) as theirs:
        job = await theirs.create_job(name="theirs", handler="h", cron=YEARLY)
    with pytest.raises(NotFoundError):
        await client.run_job(job.id)


@pytest.mark.parametrize("key", ["cs_wrong_key", None])
async def test_wrong_or_missing_key_is_unauthenticated(live: Live, key: str | None) -> None:
    async with Client.connect(live.address, key) as client:
        with pytest.raises(UnauthenticatedError):
            await client.get_health()
        with pytest.raises(UnauthenticatedError):
            await collect(client.list_jobs())


async def test_arguments_refused_before_the_call(client: Client) -> None:
    with pytest.raises(ValueError, match="one trigger"):
        await client.create_job(name="j", handler="h", cron=YEARLY, event="e")
    with pytest.raises(ValueError, match="naive"):
        await client.create_job(name="j", handler="h", once=datetime(2031, 1, 1))
    with pytest.raises(ValueError, match="priority"):
        await client.create_job(name="j", handler="h", cron=YEARLY, priority="urgent")  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match="not JSON"):
        await client.create_job(name="j", handler="h", cron=YEARLY, payload={"x": float("nan")})
