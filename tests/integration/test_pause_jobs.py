"""PauseJobs and ResumeJobs over a live server: the platform's matching jobs,
at most `limit` per call, and how many are left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from cronstream.v1 import job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

from tests.conftest import Live, Tenant, make_tenant
from tests.integration.test_ticker import eventually, job_of
from tests.jobs import cron_job, ts
from tests.status import expect_code, violations

PAUSED, ACTIVE = job_pb2.JOB_STATUS_PAUSED, job_pb2.JOB_STATUS_ACTIVE
NEVER_SOON = "0 0 1 1 *"  # no slot falls during a test: the ticker holds no job


async def make_jobs(live: Live, tenant: Tenant, *jobs: job_pb2.Job) -> list[str]:
    requests = [pb.CreateJobRequest(job=job) for job in jobs]
    response = await live.scheduler.BatchCreateJobs(
        pb.BatchCreateJobsRequest(requests=requests), metadata=tenant.auth
    )
    return [job.id for job in response.jobs]


def job(name: str = "job", handler: str = "tick", tags: tuple[str, ...] = ()) -> job_pb2.Job:
    return cron_job(NEVER_SOON, name=name, handler_name=handler, tags=list(tags))


async def statuses(live: Live, tenant: Tenant, ids: list[str]) -> list[int]:
    return [(await job_of(live, tenant, job_id)).status for job_id in ids]


async def pause_jobs(
    live: Live, tenant: Tenant, selector: pb.JobSelector, **fields: object
) -> tuple[int, int]:
    request = pb.PauseJobsRequest(selector=selector, **fields)  # type: ignore[arg-type]
    response = await live.scheduler.PauseJobs(request, metadata=tenant.auth)
    return response.changed, response.remaining


async def resume_jobs(
    live: Live, tenant: Tenant, selector: pb.JobSelector, limit: int = 0
) -> tuple[int, int]:
    request = pb.ResumeJobsRequest(selector=selector, limit=limit)
    response = await live.scheduler.ResumeJobs(request, metadata=tenant.auth)
    return response.changed, response.remaining


async def test_by_tag_only_the_platform_s_matching_jobs_change(live: Live, tenant: Tenant) -> None:
    other = await make_tenant(live, "other")
    tagged = await make_jobs(live, tenant, *(job(tags=("nightly", "eu")) for _ in range(3)))
    [was_paused] = await make_jobs(live, tenant, job(tags=("nightly", "eu")))
    await live.scheduler.PauseJob(pb.PauseJobRequest(id=was_paused), metadata=tenant.auth)
    untouched = await make_jobs(live, tenant, job(tags=("nightly",)), job(tags=("eu", "x")))
    theirs = await make_jobs(live, other, *(job(tags=("nightly", "eu")) for _ in range(2)))
    nightly_eu = pb.JobSelector(tags=["eu", "nightly"])

    assert await pause_jobs(live, tenant, nightly_eu) == (3, 0)

    assert await statuses(live, tenant, [*tagged, was_paused]) == [PAUSED] * 4
    assert await statuses(live, tenant, untouched) == [ACTIVE] * 2
    assert await statuses(live, other, theirs) == [ACTIVE] * 2
    assert await resume_jobs(live, tenant, nightly_eu) == (4, 0)
    assert await statuses(live, tenant, [*tagged, was_paused]) == [ACTIVE] * 4
    assert await pause_jobs(live, other, pb.JobSelector(all=True)) == (2, 0)
    assert await statuses(live, tenant, [*tagged, *untouched]) == [ACTIVE] * 5


async def test_a_caller_loops_until_none_remain(live: Live, tenant: Tenant) -> None:
    ids = await make_jobs(live, tenant, *(job(handler="bulk") for _ in range(25)))
    await make_jobs(live, tenant, job(handler="other"))
    bulk = pb.JobSelector(handler_name="bulk")

    paused = [await pause_jobs(live, tenant, bulk, limit=10) for _ in range(3)]
    assert paused == [(10, 15), (10, 5), (5, 0)]
    assert await statuses(live, tenant, ids) == [PAUSED] * 25
    resumed = [await resume_jobs(live, tenant, bulk, limit=10) for _ in range(3)]
    assert resumed == [(10, 15), (10, 5), (5, 0)]
    assert await statuses(live, tenant, ids) == [ACTIVE] * 25
    assert await pause_jobs(live, tenant, pb.JobSelector(all=True)) == (26, 0)  # limit 1,000


async def test_a_name_prefix_is_case_sensitive_and_literal(live: Live, tenant: Tenant) -> None:
    names = ["nightly_report", "nightly_reports", "nightlyXreport", "Nightly_report"]
    ids = dict(
        zip(names, await make_jobs(live, tenant, *(job(name=n) for n in names)), strict=True)
    )

    assert await pause_jobs(live, tenant, pb.JobSelector(name_prefix="nightly_report")) == (2, 0)

    assert await statuses(live, tenant, list(ids.values())) == [PAUSED, PAUSED, ACTIVE, ACTIVE]


async def test_pausing_many_until_an_instant_resumes_them_by_themselves(
    live: Live, tenant: Tenant
) -> None:
    ids = await make_jobs(live, tenant, *(job(tags=("maintenance",)) for _ in range(3)))
    until = datetime.now(UTC) + timedelta(seconds=1)
    selector = pb.JobSelector(tags=["maintenance"])

    assert await pause_jobs(live, tenant, selector, until=ts(until)) == (3, 0)

    paused = [await job_of(live, tenant, job_id) for job_id in ids]
    assert {p.paused_until.ToDatetime(tzinfo=UTC) for p in paused} == {until}

    async def all_active() -> bool:
        return await statuses(live, tenant, ids) == [ACTIVE] * 3

    await eventually(all_active, within=10.0)
    resumed = [await job_of(live, tenant, job_id) for job_id in ids]
    assert not any(j.HasField("paused_until") for j in resumed)


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (pb.PauseJobsRequest(), {"selector"}),
        (pb.PauseJobsRequest(selector=pb.JobSelector(all=True, tags=["a"])), {"selector"}),
        (pb.PauseJobsRequest(selector=pb.JobSelector(all=True), limit=10_001), {"limit"}),
        (
            pb.PauseJobsRequest(
                selector=pb.JobSelector(handler_name="h"),
                until=ts(datetime(2020, 1, 1, tzinfo=UTC)),
                limit=-1,
            ),
            {"until", "limit"},
        ),
        (pb.ResumeJobsRequest(selector=pb.JobSelector()), {"selector"}),
        (pb.ResumeJobsRequest(selector=pb.JobSelector(all=True), limit=-5), {"limit"}),
    ],
)
async def test_bad_selectors_and_limits_are_refused_and_change_nothing(
    live: Live,
    tenant: Tenant,
    request_: pb.PauseJobsRequest | pb.ResumeJobsRequest,
    fields: set[str],
) -> None:
    ids = await make_jobs(live, tenant, job(handler="h", tags=("a",)))
    call = (
        live.scheduler.PauseJobs(request_, metadata=tenant.auth)
        if isinstance(request_, pb.PauseJobsRequest)
        else live.scheduler.ResumeJobs(request_, metadata=tenant.auth)
    )

    error = await expect_code(call, grpc.StatusCode.INVALID_ARGUMENT)

    assert violations(error).keys() == fields
    assert await statuses(live, tenant, ids) == [ACTIVE]
