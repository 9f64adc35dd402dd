"""ListJobs' text filter: a name contains it (any case) or an id is it."""

from __future__ import annotations

import grpc
from cronstream.v1 import job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

from tests.conftest import Live, Tenant, make_tenant
from tests.jobs import create, cron_job
from tests.status import expect_code, violations


async def _names(live: Live, tenant: Tenant, request: pb.ListJobsRequest) -> list[str]:
    """Every page's names in order, following next_page_token."""
    seen: list[str] = []
    while True:
        page = await live.scheduler.ListJobs(request, metadata=tenant.auth)
        seen += [j.name for j in page.jobs]
        if not page.next_page_token:
            return seen
        request.page_token = page.next_page_token


async def test_text_matches_names_in_any_case_and_ids_exactly(live: Live, tenant: Tenant) -> None:
    for name in ("Nightly Backup", "backup-weekly", "report", "BACKUPS"):
        await create(live, tenant, cron_job(name=name))
    report = (
        await live.scheduler.ListJobs(pb.ListJobsRequest(text="report"), metadata=tenant.auth)
    ).jobs[0]

    assert await _names(live, tenant, pb.ListJobsRequest(text="backup")) == [
        "BACKUPS",
        "backup-weekly",
        "Nightly Backup",
    ]
    assert await _names(live, tenant, pb.ListJobsRequest(text=report.id)) == ["report"]
    # Part of an id is not an id: nothing has it in its name either.
    assert await _names(live, tenant, pb.ListJobsRequest(text=report.id[:8])) == []


async def test_wildcards_in_the_text_are_plain_characters(live: Live, tenant: Tenant) -> None:
    for name in ("50% off", "500 errors", "a_b", "axb", "back\\slash"):
        await create(live, tenant, cron_job(name=name))

    assert await _names(live, tenant, pb.ListJobsRequest(text="50%")) == ["50% off"]
    assert await _names(live, tenant, pb.ListJobsRequest(text="a_b")) == ["a_b"]
    assert await _names(live, tenant, pb.ListJobsRequest(text="%")) == ["50% off"]
    assert await _names(live, tenant, pb.ListJobsRequest(text="k\\s")) == ["back\\slash"]
    assert await _names(live, tenant, pb.ListJobsRequest(text="/")) == []


async def test_text_combines_with_filters_and_pages(live: Live, tenant: Tenant) -> None:
    for i in range(7):
        handler = "even" if i % 2 == 0 else "odd"
        await create(live, tenant, cron_job(name=f"sync-{i}", handler_name=handler))
    await create(live, tenant, cron_job(name="other", handler_name="even"))

    assert await _names(live, tenant, pb.ListJobsRequest(text="SYNC", page_size=2)) == [
        f"sync-{i}" for i in reversed(range(7))
    ]
    assert await _names(
        live, tenant, pb.ListJobsRequest(text="sync", handler_name="even", page_size=1)
    ) == ["sync-6", "sync-4", "sync-2", "sync-0"]

    first = await live.scheduler.ListJobs(
        pb.ListJobsRequest(text="sync", page_size=2), metadata=tenant.auth
    )
    error = await expect_code(
        live.scheduler.ListJobs(
            pb.ListJobsRequest(text="sync-", page_size=2, page_token=first.next_page_token),
            metadata=tenant.auth,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "page_token" in violations(error)


async def test_text_sees_only_the_callers_jobs(live: Live, tenant: Tenant) -> None:
    other = await make_tenant(live, "other")
    theirs = await create(live, other, cron_job(name="shared name"))
    await create(live, tenant, cron_job(name="shared name too"))

    assert await _names(live, tenant, pb.ListJobsRequest(text="shared")) == ["shared name too"]
    assert await _names(live, tenant, pb.ListJobsRequest(text=theirs.id)) == []


async def test_text_longer_than_200_characters_is_refused(live: Live, tenant: Tenant) -> None:
    await _names(live, tenant, pb.ListJobsRequest(text="x" * 200))
    error = await expect_code(
        live.scheduler.ListJobs(pb.ListJobsRequest(text="x" * 201), metadata=tenant.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violations(error) == {"text": "is 201 characters long; at most 200"}


async def test_text_matches_event_jobs_too(live: Live, tenant: Tenant) -> None:
    await create(
        live,
        tenant,
        job_pb2.Job(name="On Upload", handler_name="h", event=job_pb2.EventTrigger(event_name="u")),
    )
    assert await _names(live, tenant, pb.ListJobsRequest(text="upload")) == ["On Upload"]
