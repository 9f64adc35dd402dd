"""Per-platform quotas over real gRPC: jobs, worker streams and calls a second,
each refused with RESOURCE_EXHAUSTED, the quota's name and a retry hint, and
none of them touching another platform."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream.v1 import worker_service_pb2 as wpb
from cronstream_server.core.quotas import Quotas

from tests.conftest import Live, Tenant, make_tenant
from tests.integration.worker_harness import RawWorker, make_job, short_lease_server
from tests.jobs import create, cron_job
from tests.status import expect_code, quota_details

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    quotas = Quotas(jobs=3, worker_streams=2, calls_per_second=0)
    async with short_lease_server(database_url, quotas=quotas) as server:
        yield server


async def test_a_platform_holds_at_most_its_jobs_quota(live: Live, tenant: Tenant) -> None:
    for n in range(3):
        await create(live, tenant, cron_job("0 * * * *", name=f"job {n}"))

    error = await expect_code(
        live.scheduler.CreateJob(
            pb.CreateJobRequest(job=cron_job("0 * * * *", name="one too many")),
            metadata=tenant.auth,
        ),
        EXHAUSTED,
    )
    assert "holds 3 jobs" in (error.details() or "")
    assert quota_details(error) == (["quota:jobs"], 60.0)

    # Deleting one makes room at once (near the quota every create counts).
    listed = await live.scheduler.ListJobs(pb.ListJobsRequest(), metadata=tenant.auth)
    await live.scheduler.DeleteJob(pb.DeleteJobRequest(id=listed.jobs[0].id), metadata=tenant.auth)
    await create(live, tenant, cron_job("0 * * * *", name="fits again"))
    # Another platform has its own quota.
    other = await make_tenant(live, "other")
    await create(live, other, cron_job("0 * * * *", name="theirs"))


async def test_a_batch_past_the_quota_creates_nothing(live: Live, tenant: Tenant) -> None:
    await create(live, tenant, cron_job("0 * * * *", name="first"))
    batch = pb.BatchCreateJobsRequest(
        requests=[
            pb.CreateJobRequest(job=cron_job("0 * * * *", name=f"batch {n}")) for n in range(3)
        ]
    )
    await expect_code(live.scheduler.BatchCreateJobs(batch, metadata=tenant.auth), EXHAUSTED)
    listed = await live.scheduler.ListJobs(pb.ListJobsRequest(), metadata=tenant.auth)
    assert [job.name for job in listed.jobs] == ["first"]


async def test_a_platform_opens_at_most_its_worker_streams(live: Live, tenant: Tenant) -> None:
    workers = [await RawWorker.connect(live, tenant, worker_id=f"w{n}") for n in range(2)]

    refused = live.workers.Connect(metadata=tenant.auth)
    hello = wpb.WorkerHello(worker_id="w3", handler_names=["h"], slots=1)
    await refused.write(wpb.ConnectRequest(hello=hello))
    error = await expect_code(refused.read(), EXHAUSTED)
    assert quota_details(error) == (["quota:worker_streams"], 5.0)

    other = await make_tenant(live, "other")
    theirs = await RawWorker.connect(live, other)  # their own quota
    await workers[0].close()
    again = await RawWorker.connect(live, tenant, worker_id="w3")  # room again
    for worker in (workers[1], theirs, again):
        await worker.close()


async def test_calls_past_the_rate_wait_for_the_hint(database_url: str) -> None:
    quotas = Quotas(calls_per_second=5)  # bursts of 10
    async with short_lease_server(database_url, quotas=quotas) as live:
        tenant = await make_tenant(live, "busy")
        job = await make_job(live, tenant)
        get = pb.GetJobRequest(id=job.id)
        # make_tenant's calls are the admin's; make_job took one token.
        for _ in range(9):
            await live.scheduler.GetJob(get, metadata=tenant.auth)
        error = await expect_code(live.scheduler.GetJob(get, metadata=tenant.auth), EXHAUSTED)
        subjects, delay = quota_details(error)
        assert subjects == ["quota:calls_per_second"]
        assert delay is not None and 0.0 < delay <= 0.2  # one token comes every 0.2 s

        other = await make_tenant(live, "quiet")
        await live.scheduler.ListJobs(pb.ListJobsRequest(), metadata=other.auth)  # unaffected
        await asyncio.sleep(delay)
        await live.scheduler.GetJob(get, metadata=tenant.auth)  # the hint was enough
