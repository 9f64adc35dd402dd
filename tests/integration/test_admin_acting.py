"""The admin key acts for one platform on SchedulerService when it names it
in x-cronstream-platform (an operator's dashboard switching platform)."""

from __future__ import annotations

import asyncio

import grpc
from cronstream.v1 import job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

from tests.conftest import ADMIN, Live, Tenant, make_tenant
from tests.integration.worker_harness import RawWorker
from tests.jobs import create, cron_job
from tests.status import expect_code

HEADER = "x-cronstream-platform"


def acting_for(platform_id: str) -> tuple[tuple[str, str], ...]:
    return (*ADMIN, (HEADER, platform_id))


async def _names(live: Live, metadata: tuple[tuple[str, str], ...]) -> list[str]:
    listed = await live.scheduler.ListJobs(pb.ListJobsRequest(), metadata=metadata)
    return [job.name for job in listed.jobs]


async def test_the_admin_key_sees_and_changes_the_named_platform_only(
    live: Live, tenant: Tenant
) -> None:
    other = await make_tenant(live, "other")
    ours = await create(live, tenant, cron_job(name="ours"))
    theirs = await create(live, other, cron_job(name="theirs"))

    as_acme = acting_for(tenant.platform.id)
    assert await _names(live, as_acme) == ["ours"]
    paused = await live.scheduler.PauseJob(pb.PauseJobRequest(id=ours.id), metadata=as_acme)
    assert paused.job.status == job_pb2.JOB_STATUS_PAUSED
    created = await live.scheduler.CreateJob(
        pb.CreateJobRequest(job=cron_job(name="by the operator")), metadata=as_acme
    )
    assert created.job.platform_id == tenant.platform.id
    assert created.job.created_by == "admin"
    assert await _names(live, tenant.auth) == ["by the operator", "ours"]

    # The other platform's job is out of reach, and untouched.
    await expect_code(
        live.scheduler.PauseJob(pb.PauseJobRequest(id=theirs.id), metadata=as_acme),
        grpc.StatusCode.NOT_FOUND,
    )
    assert await _names(live, other.auth) == ["theirs"]
    theirs_now = await live.scheduler.GetJob(pb.GetJobRequest(id=theirs.id), metadata=other.auth)
    assert theirs_now.job.status == job_pb2.JOB_STATUS_ACTIVE
    assert await _names(live, acting_for(other.platform.id)) == ["theirs"]


async def test_an_unknown_or_malformed_platform_is_not_found(live: Live) -> None:
    for platform_id in ("0190a5b4-0000-7000-8000-000000000000", "billing", ""):
        error = await expect_code(
            live.scheduler.ListJobs(pb.ListJobsRequest(), metadata=acting_for(platform_id)),
            grpc.StatusCode.NOT_FOUND,
        )
        assert "platform" in (error.details() or "")


async def test_without_the_header_the_admin_key_is_refused_and_told_of_it(live: Live) -> None:
    error = await expect_code(
        live.scheduler.ListJobs(pb.ListJobsRequest(), metadata=ADMIN),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    assert HEADER in (error.details() or "")


async def test_a_platform_key_may_not_switch_platform(live: Live, tenant: Tenant) -> None:
    other = await make_tenant(live, "other")
    await create(live, other, cron_job(name="theirs"))
    for platform_id in (other.platform.id, tenant.platform.id):
        error = await expect_code(
            live.scheduler.ListJobs(
                pb.ListJobsRequest(), metadata=(*tenant.auth, (HEADER, platform_id))
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        assert HEADER in (error.details() or "")


async def test_the_admin_key_still_opens_no_worker_stream(live: Live, tenant: Tenant) -> None:
    worker = RawWorker(call=live.workers.Connect(metadata=acting_for(tenant.platform.id)))
    worker.reader = asyncio.create_task(worker._read())
    assert await worker.ended() == grpc.StatusCode.UNAUTHENTICATED
