"""Jobs over real gRPC: the four kinds, the lifecycle, lists, updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from cronstream.v1 import execution_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from google.protobuf import field_mask_pb2

from tests.conftest import Live, Tenant, make_tenant
from tests.jobs import create, cron_job, seconds, ts
from tests.status import expect_code, violations


async def test_cron_job_defaults_and_next_run_in_its_timezone(live: Live, tenant: Tenant) -> None:
    before = datetime.now(UTC)
    job = await create(
        live, tenant, cron_job("30 2 * * *", "America/New_York", name="nightly", tags=["ops"])
    )
    assert job.type == job_pb2.JOB_TYPE_CRON
    assert job.status == job_pb2.JOB_STATUS_ACTIVE
    assert job.platform_id == tenant.platform.id
    assert job.created_by == "acme-key"
    assert (job.max_retries, job.retry_delay.seconds, job.timeout.seconds) == (3, 60, 300)
    assert job.priority == job_pb2.PRIORITY_MEDIUM
    assert job.overlap_policy == job_pb2.OVERLAP_POLICY_ALLOW
    assert job.misfire_policy == job_pb2.MISFIRE_POLICY_RUN_ONCE
    next_run = job.next_run.ToDatetime(tzinfo=UTC)
    local = next_run.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert before < next_run <= before + timedelta(days=1, hours=1)
    assert (local.hour, local.minute) in {(2, 30), (3, 0)}  # 03:00 only on a spring-forward day
    assert job.cron.timezone == "America/New_York"


async def test_once_interval_and_event_jobs(live: Live, tenant: Tenant) -> None:
    run_at = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    once = await create(
        live,
        tenant,
        job_pb2.Job(name="once", handler_name="h", once=job_pb2.OnceTrigger(run_at=ts(run_at))),
    )
    assert once.type == job_pb2.JOB_TYPE_ONE_TIME
    assert once.next_run.ToDatetime(tzinfo=UTC) == run_at

    start = datetime(2030, 6, 1, tzinfo=UTC)
    interval = await create(
        live,
        tenant,
        job_pb2.Job(
            name="every 90s",
            handler_name="h",
            interval=job_pb2.IntervalTrigger(
                every=seconds(90),
                start_at=ts(start),
                end_at=ts(start + timedelta(hours=1)),
                max_runs=5,
            ),
        ),
    )
    assert interval.type == job_pb2.JOB_TYPE_RECURRING
    assert interval.next_run.ToDatetime(tzinfo=UTC) == start
    assert interval.interval.max_runs == 5

    event = await create(
        live,
        tenant,
        job_pb2.Job(
            name="on signup", handler_name="h", event=job_pb2.EventTrigger(event_name="user.signup")
        ),
    )
    assert event.type == job_pb2.JOB_TYPE_EVENT
    assert not event.HasField("next_run")


async def test_interval_without_start_fires_one_period_after_creation(
    live: Live, tenant: Tenant
) -> None:
    before = datetime.now(UTC)
    job = await create(
        live,
        tenant,
        job_pb2.Job(
            name="i", handler_name="h", interval=job_pb2.IntervalTrigger(every=seconds(600))
        ),
    )
    next_run = job.next_run.ToDatetime(tzinfo=UTC)
    assert before + timedelta(seconds=599) < next_run < datetime.now(UTC) + timedelta(seconds=601)


async def test_names_payload_and_metadata_are_stored_byte_for_byte(
    live: Live, tenant: Tenant
) -> None:
    name = 'Robert\'); DROP TABLE scheduled_jobs;-- "quoted" 🚀 日本語'
    job = cron_job(name=name, handler_name="h-🚀", metadata={"k'ey": 'v"al 🚀'}, tags=["a b", "ü"])
    job.payload.update({"nested": {"list": [1, "two", None, True]}, "emoji": "🚀"})
    created = await create(live, tenant, job)
    fetched = (
        await live.scheduler.GetJob(pb.GetJobRequest(id=created.id), metadata=tenant.auth)
    ).job
    assert fetched == created
    assert fetched.name == name
    assert dict(fetched.metadata) == {"k'ey": 'v"al 🚀'}
    assert list(fetched.tags) == ["a b", "ü"]
    assert fetched.payload["nested"]["list"][1] == "two"


async def test_create_is_idempotent_by_request_id(live: Live, tenant: Tenant) -> None:
    first = await create(live, tenant, cron_job(name="first"), request_id="req-1")
    second = await create(live, tenant, cron_job(name="second"), request_id="req-1")
    assert second == first
    other = await make_tenant(live, "other")
    theirs = await create(live, other, cron_job(name="theirs"), request_id="req-1")
    assert theirs.id != first.id
    listed = await live.scheduler.ListJobs(pb.ListJobsRequest(), metadata=tenant.auth)
    assert [j.name for j in listed.jobs] == ["first"]


async def test_pause_resume_cancel_delete(live: Live, tenant: Tenant) -> None:
    job = await create(live, tenant, cron_job())
    paused = (
        await live.scheduler.PauseJob(pb.PauseJobRequest(id=job.id), metadata=tenant.auth)
    ).job
    assert paused.status == job_pb2.JOB_STATUS_PAUSED
    resumed = (
        await live.scheduler.ResumeJob(pb.ResumeJobRequest(id=job.id), metadata=tenant.auth)
    ).job
    assert resumed.status == job_pb2.JOB_STATUS_ACTIVE
    assert resumed.next_run.ToDatetime(tzinfo=UTC) >= datetime.now(UTC) - timedelta(seconds=1)
    cancelled = (
        await live.scheduler.CancelJob(pb.CancelJobRequest(id=job.id), metadata=tenant.auth)
    ).job
    assert cancelled.status == job_pb2.JOB_STATUS_CANCELLED
    assert cancelled.HasField("cancelled_at") and not cancelled.HasField("next_run")

    for call in (
        live.scheduler.ResumeJob(pb.ResumeJobRequest(id=job.id), metadata=tenant.auth),
        live.scheduler.PauseJob(pb.PauseJobRequest(id=job.id), metadata=tenant.auth),
        live.scheduler.CancelJob(pb.CancelJobRequest(id=job.id), metadata=tenant.auth),
        live.scheduler.RunJob(pb.RunJobRequest(id=job.id), metadata=tenant.auth),
    ):
        await expect_code(call, grpc.StatusCode.FAILED_PRECONDITION)

    await live.scheduler.DeleteJob(pb.DeleteJobRequest(id=job.id), metadata=tenant.auth)
    await expect_code(
        live.scheduler.GetJob(pb.GetJobRequest(id=job.id), metadata=tenant.auth),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_run_job_creates_a_pending_manual_execution(live: Live, tenant: Tenant) -> None:
    job = cron_job()
    job.payload.update({"x": 1})
    created = await create(live, tenant, job)
    execution = (
        await live.scheduler.RunJob(pb.RunJobRequest(id=created.id), metadata=tenant.auth)
    ).execution
    assert execution.job_id == created.id
    assert execution.status == execution_pb2.EXECUTION_STATUS_PENDING
    assert execution.trigger == execution_pb2.EXECUTION_TRIGGER_MANUAL
    assert execution.attempt == 1 and execution.max_retries == 3
    assert execution.payload["x"] == 1
    fetched = (
        await live.scheduler.GetJob(pb.GetJobRequest(id=created.id), metadata=tenant.auth)
    ).job
    assert fetched.executions_count == 1


async def test_update_with_mask_changes_only_the_named_fields(live: Live, tenant: Tenant) -> None:
    job = await create(live, tenant, cron_job("0 9 * * *", name="before", tags=["a"]))
    changed = cron_job("0 9 * * *", name="after", tags=["b"], handler_name="ignored")
    updated = (
        await live.scheduler.UpdateJob(
            pb.UpdateJobRequest(
                job=job_pb2.Job(id=job.id, name="after", tags=["b"], handler_name="ignored"),
                update_mask=field_mask_pb2.FieldMask(paths=["name", "tags"]),
            ),
            metadata=tenant.auth,
        )
    ).job
    assert changed.name == updated.name == "after"
    assert list(updated.tags) == ["b"]
    assert updated.handler_name == "tick"
    assert updated.next_run == job.next_run
    assert updated.updated_at.ToDatetime() >= job.updated_at.ToDatetime()


async def test_update_trigger_recomputes_next_run(live: Live, tenant: Tenant) -> None:
    job = await create(live, tenant, cron_job("0 9 * * *"))
    run_at = datetime(2035, 5, 5, 5, 5, tzinfo=UTC)
    updated = (
        await live.scheduler.UpdateJob(
            pb.UpdateJobRequest(
                job=job_pb2.Job(id=job.id, once=job_pb2.OnceTrigger(run_at=ts(run_at))),
                update_mask=field_mask_pb2.FieldMask(paths=["once"]),
            ),
            metadata=tenant.auth,
        )
    ).job
    assert updated.type == job_pb2.JOB_TYPE_ONE_TIME
    assert updated.next_run.ToDatetime(tzinfo=UTC) == run_at
    assert not updated.HasField("cron")


async def test_update_refuses_unknown_paths_and_bad_values(live: Live, tenant: Tenant) -> None:
    job = await create(live, tenant, cron_job())
    error = await expect_code(
        live.scheduler.UpdateJob(
            pb.UpdateJobRequest(
                job=job_pb2.Job(id=job.id),
                update_mask=field_mask_pb2.FieldMask(paths=["name", "status"]),
            ),
            metadata=tenant.auth,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "update_mask.paths[1]" in violations(error)
    error = await expect_code(
        live.scheduler.UpdateJob(
            pb.UpdateJobRequest(
                job=job_pb2.Job(id=job.id, cron=job_pb2.CronTrigger(expression="99 * * * *")),
                update_mask=field_mask_pb2.FieldMask(paths=["cron"]),
            ),
            metadata=tenant.auth,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {"job.cron.expression"}


async def test_list_jobs_filters_and_pages(live: Live, tenant: Tenant) -> None:
    created = []
    for i in range(7):
        job = cron_job(
            name=f"job-{i}", handler_name="even" if i % 2 == 0 else "odd", tags=["all", f"t{i % 3}"]
        )
        created.append(await create(live, tenant, job))
    await live.scheduler.PauseJob(pb.PauseJobRequest(id=created[0].id), metadata=tenant.auth)
    await create(
        live,
        tenant,
        job_pb2.Job(name="evt", handler_name="even", event=job_pb2.EventTrigger(event_name="e")),
    )

    async def names(request: pb.ListJobsRequest) -> list[str]:
        seen: list[str] = []
        while True:
            page = await live.scheduler.ListJobs(request, metadata=tenant.auth)
            assert len(page.jobs) <= max(request.page_size, 1) or request.page_size == 0
            seen += [j.name for j in page.jobs]
            if not page.next_page_token:
                return seen
            request.page_token = page.next_page_token

    everything = await names(pb.ListJobsRequest(page_size=3))
    assert everything == ["evt"] + [f"job-{i}" for i in reversed(range(7))]  # newest first
    assert await names(
        pb.ListJobsRequest(page_size=2, handler_name="even", types=[job_pb2.JOB_TYPE_CRON])
    ) == [
        "job-6",
        "job-4",
        "job-2",
        "job-0",
    ]
    assert await names(pb.ListJobsRequest(tags=["all", "t1"])) == ["job-4", "job-1"]
    assert await names(pb.ListJobsRequest(statuses=[job_pb2.JOB_STATUS_PAUSED])) == ["job-0"]

    first = await live.scheduler.ListJobs(pb.ListJobsRequest(page_size=2), metadata=tenant.auth)
    error = await expect_code(
        live.scheduler.ListJobs(
            pb.ListJobsRequest(page_size=2, page_token=first.next_page_token, handler_name="odd"),
            metadata=tenant.auth,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "page_token" in violations(error)
    other = await make_tenant(live, "other")
    await expect_code(
        live.scheduler.ListJobs(
            pb.ListJobsRequest(page_size=2, page_token=first.next_page_token), metadata=other.auth
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
