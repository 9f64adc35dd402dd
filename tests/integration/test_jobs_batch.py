"""BatchCreateJobs over real gRPC: all or nothing, in request order, idempotent per request."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from cronstream.v1 import job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

from tests.conftest import Live, Tenant
from tests.jobs import create, cron_job, seconds, ts
from tests.status import expect_code, violations

RUN_AT = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)


def batch(*jobs: job_pb2.Job, request_ids: tuple[str, ...] = ()) -> pb.BatchCreateJobsRequest:
    ids = request_ids or ("",) * len(jobs)
    return pb.BatchCreateJobsRequest(
        requests=[pb.CreateJobRequest(job=j, request_id=r) for j, r in zip(jobs, ids, strict=True)]
    )


async def batch_create(
    live: Live, tenant: Tenant, request: pb.BatchCreateJobsRequest
) -> list[job_pb2.Job]:
    return list((await live.scheduler.BatchCreateJobs(request, metadata=tenant.auth)).jobs)


async def stored_ids(live: Live, tenant: Tenant) -> set[str]:
    listed = await live.scheduler.ListJobs(pb.ListJobsRequest(page_size=1000), metadata=tenant.auth)
    assert not listed.next_page_token
    return {j.id for j in listed.jobs}


def mixed_kinds() -> list[job_pb2.Job]:
    return [
        cron_job("30 2 * * *", "America/New_York", name="cron", tags=["a"]),
        job_pb2.Job(name="once", handler_name="h", once=job_pb2.OnceTrigger(run_at=ts(RUN_AT))),
        job_pb2.Job(
            name="interval",
            handler_name="h",
            interval=job_pb2.IntervalTrigger(every=seconds(90), start_at=ts(RUN_AT), max_runs=3),
        ),
        job_pb2.Job(name="event", handler_name="h", event=job_pb2.EventTrigger(event_name="e")),
    ]


async def test_a_batch_of_every_kind_is_created_in_request_order(
    live: Live, tenant: Tenant
) -> None:
    created = await batch_create(live, tenant, batch(*mixed_kinds()))
    assert [j.name for j in created] == ["cron", "once", "interval", "event"]
    assert [j.type for j in created] == [
        job_pb2.JOB_TYPE_CRON,
        job_pb2.JOB_TYPE_ONE_TIME,
        job_pb2.JOB_TYPE_RECURRING,
        job_pb2.JOB_TYPE_EVENT,
    ]
    assert {j.status for j in created} == {job_pb2.JOB_STATUS_ACTIVE}
    assert {j.platform_id for j in created} == {tenant.platform.id}
    assert created[1].next_run.ToDatetime(tzinfo=UTC) == RUN_AT
    assert created[2].next_run.ToDatetime(tzinfo=UTC) == RUN_AT
    assert created[0].next_run.ToDatetime(tzinfo=UTC) > datetime.now(UTC)
    assert not created[3].HasField("next_run")
    for job in created:
        fetched = await live.scheduler.GetJob(pb.GetJobRequest(id=job.id), metadata=tenant.auth)
        assert fetched.job == job
    assert await stored_ids(live, tenant) == {j.id for j in created}


async def test_an_invalid_request_rejects_the_whole_batch(live: Live, tenant: Tenant) -> None:
    jobs = mixed_kinds()
    jobs[1] = cron_job("61 * * * *")
    jobs[3] = cron_job(name="", max_retries=-1)
    error = await expect_code(
        live.scheduler.BatchCreateJobs(batch(*jobs), metadata=tenant.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    found = violations(error)
    assert set(found) == {
        "requests[1].job.cron.expression",
        "requests[3].job.name",
        "requests[3].job.max_retries",
    }
    assert "61" in found["requests[1].job.cron.expression"]
    assert await stored_ids(live, tenant) == set()


async def test_a_request_without_a_job_is_named(live: Live, tenant: Tenant) -> None:
    request = batch(cron_job())
    request.requests.add(request_id="no-job")
    error = await expect_code(
        live.scheduler.BatchCreateJobs(request, metadata=tenant.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {"requests[1].job"}


async def test_repeated_request_ids_return_the_same_jobs(live: Live, tenant: Tenant) -> None:
    request = batch(
        cron_job(name="a"), cron_job(name="b"), cron_job(name="c"), request_ids=("r-a", "r-b", "")
    )
    first = await batch_create(live, tenant, request)
    again = await batch_create(live, tenant, request)
    assert again[:2] == first[:2]
    assert again[2].id != first[2].id  # no request_id: a new job each time
    assert await stored_ids(live, tenant) == {*(j.id for j in first), again[2].id}

    # One key space with CreateJob, in both directions, and a mixed batch.
    single = await create(live, tenant, cron_job(name="other"), request_id="r-a")
    assert single == first[0]
    solo = await create(live, tenant, cron_job(name="solo"), request_id="r-solo")
    mixed = await batch_create(
        live,
        tenant,
        batch(cron_job(name="new"), cron_job(name="x"), request_ids=("r-new", "r-solo")),
    )
    assert mixed[1] == solo
    assert mixed[0].name == "new"
    again_mixed = await batch_create(
        live, tenant, batch(cron_job(name="y"), cron_job(name="z"), request_ids=("r-new", "r-solo"))
    )
    assert again_mixed == mixed


async def test_one_request_id_twice_in_a_batch_is_invalid(live: Live, tenant: Tenant) -> None:
    request = batch(cron_job(), cron_job(), cron_job(), request_ids=("same", "other", "same"))
    error = await expect_code(
        live.scheduler.BatchCreateJobs(request, metadata=tenant.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violations(error) == {"requests[2].request_id": "repeats requests[0].request_id"}
    assert await stored_ids(live, tenant) == set()


async def test_one_to_a_thousand_requests(live: Live, tenant: Tenant) -> None:
    for size in (0, 1001):
        request = batch(*[cron_job(name=f"j{i}") for i in range(size)])
        error = await expect_code(
            live.scheduler.BatchCreateJobs(request, metadata=tenant.auth),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert set(violations(error)) == {"requests"}, size
    assert await stored_ids(live, tenant) == set()

    created = await batch_create(
        live, tenant, batch(*[cron_job(name=f"j{i}") for i in range(1000)])
    )
    assert [j.name for j in created] == [f"j{i}" for i in range(1000)]
    assert await stored_ids(live, tenant) == {j.id for j in created}


async def test_a_thousand_bad_requests_are_reported_within_the_trailer_limit(
    live: Live, tenant: Tenant
) -> None:
    request = batch(*[cron_job("61 * * * *", name="") for _ in range(1000)])
    error = await expect_code(
        live.scheduler.BatchCreateJobs(request, metadata=tenant.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    found = violations(error)
    assert "requests[0].job.cron.expression" in found and "requests[0].job.name" in found
    assert 2 < len(found) < 2000
    assert (error.details() or "").endswith(f" (and {2000 - len(found)} more)")


async def test_a_response_over_the_message_limit_is_refused_before_storing(
    live: Live, tenant: Tenant
) -> None:
    # Each response job repeats its request with the output fields added, so
    # a request just under 4 MiB makes a response over it.
    jobs = []
    for i in range(1000):
        job = cron_job(name=f"j{i}")
        job.payload.update({"blob": "x" * 4000})
        jobs.append(job)
    request = batch(*jobs)
    assert request.ByteSize() < 4 * 1024 * 1024
    await expect_code(
        live.scheduler.BatchCreateJobs(request, metadata=tenant.auth),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    assert await stored_ids(live, tenant) == set()
