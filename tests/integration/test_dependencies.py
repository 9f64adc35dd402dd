"""Schedules that wait for each other, over gRPC with a real worker, on SQLite
and Postgres (docs/scheduling.md, "Dependencies"): a slot runs once its
dependencies' slots of the same instant succeeded, waits then is skipped as
missed when one failed, and the graph refuses unknown ids and cycles."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from cronstream.v1 import execution_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream.v1 import worker_service_pb2 as wpb
from cronstream_server.core.ids import new_id
from google.protobuf import field_mask_pb2

from tests.conftest import Live, Tenant, make_tenant, serving_live
from tests.integration.test_metrics import scrape, settings, value
from tests.integration.worker_harness import RawWorker, eventually
from tests.jobs import create, cron_job, seconds, ts
from tests.status import expect_code, violations

WAITING = execution_pb2.EXECUTION_STATUS_WAITING
SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS
SKIPPED = execution_pb2.EXECUTION_STATUS_SKIPPED
CANCELLED = execution_pb2.EXECUTION_STATUS_CANCELLED
PENDING = execution_pb2.EXECUTION_STATUS_PENDING


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    """A live server that also serves /metrics (the skipped-slots counter)."""
    async with serving_live(settings(database_url)) as server:
        yield server


def every_two_seconds(name: str, start_at: datetime, **fields: object) -> job_pb2.Job:
    trigger = job_pb2.IntervalTrigger(every=seconds(2), start_at=ts(start_at))
    return job_pb2.Job(name=name, handler_name=name, interval=trigger, **fields)  # type: ignore[arg-type]


def soon() -> datetime:
    """A whole second at least 2 s ahead: both jobs' first slot."""
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)


async def executions(live: Live, tenant: Tenant, job_id: str) -> list[execution_pb2.Execution]:
    request = pb.ListExecutionsRequest(job_id=job_id, page_size=200)
    return list((await live.scheduler.ListExecutions(request, metadata=tenant.auth)).executions)


@contextlib.asynccontextmanager
async def working(
    live: Live, tenant: Tenant, answer: Callable[[wpb.Assignment], bool], delay: float = 0.0
) -> AsyncIterator[None]:
    """A worker for "export" and "report" that succeeds when `answer` says so
    and fails (for good) otherwise, `delay` after each assignment."""
    worker = await RawWorker.connect(live, tenant, handlers=("export", "report"), slots=8)
    sending = asyncio.Lock()

    async def settle(assignment: wpb.Assignment) -> None:
        await asyncio.sleep(delay)
        async with sending:
            if answer(assignment):
                await worker.succeed(assignment)
            else:
                await worker.fail(assignment, "export broke", retryable=False)

    async def serve() -> None:
        async with asyncio.TaskGroup() as group:
            while True:
                message = await worker.next(within=60)
                if message.WhichOneof("msg") == "assignment":
                    group.create_task(settle(message.assignment))

    task = asyncio.create_task(serve())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await worker.close()


async def test_each_report_slot_runs_after_the_export_slot_of_its_instant(
    live: Live, tenant: Tenant
) -> None:
    start_at = soon()
    export = await create(live, tenant, every_two_seconds("export", start_at))
    report = await create(
        live, tenant, every_two_seconds("report", start_at, depends_on=[export.id])
    )
    assert list(report.depends_on) == [export.id]
    assert report.max_wait.ToTimedelta() == timedelta(hours=1)  # the default

    async def three_reports_done() -> bool:
        done = [e for e in await executions(live, tenant, report.id) if e.status == SUCCESS]
        return len(done) >= 3

    # Exports take 0.4 s: a report that did not wait would start before one ends.
    async with working(live, tenant, lambda _: True, delay=0.4):
        await eventually(three_reports_done, within=30)

    exports = {e.scheduled_at.ToDatetime(): e for e in await executions(live, tenant, export.id)}
    reports = [e for e in await executions(live, tenant, report.id) if e.status == SUCCESS]
    assert len(reports) >= 3
    for run in reports:
        upstream = exports[run.scheduled_at.ToDatetime()]
        assert upstream.status == SUCCESS
        assert run.started_at.ToDatetime() >= upstream.completed_at.ToDatetime(), (run, upstream)
        assert not run.waiting_for and not run.HasField("wait_deadline")  # shown while waiting


async def test_a_failed_dependency_holds_the_slot_then_it_is_missed_with_an_alert(
    live: Live, tenant: Tenant
) -> None:
    start_at = soon()
    export = await create(live, tenant, every_two_seconds("export", start_at, max_retries=0))
    report = await create(
        live,
        tenant,
        every_two_seconds("report", start_at, depends_on=[export.id], max_wait=seconds(3)),
    )

    async def first_report() -> execution_pb2.Execution | None:
        found = await executions(live, tenant, report.id)
        return min(found, key=lambda e: e.scheduled_at.ToDatetime()) if found else None

    def first_report_is(status: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            first = await first_report()
            return first is not None and first.status == status

        return check

    async with working(live, tenant, lambda a: a.handler_name != "export"):
        await eventually(first_report_is(WAITING), within=10)
        waiting = await first_report()
        assert waiting is not None
        assert list(waiting.waiting_for) == [export.id]
        slot = waiting.scheduled_at.ToDatetime()
        assert waiting.wait_deadline.ToDatetime() == slot + timedelta(seconds=3)
        await eventually(first_report_is(SKIPPED), within=15)

    skipped = await first_report()
    assert skipped is not None and skipped.scheduled_at.ToDatetime() == slot
    instant = slot.isoformat() + "Z"
    assert skipped.error == f"missed: waited 3s for export ({export.id}): its {instant} slot failed"
    assert not skipped.started_at.seconds  # it never ran
    alerts = await live.scheduler.ListAlerts(
        pb.ListAlertsRequest(job_id=report.id), metadata=tenant.auth
    )
    missed = [a for a in alerts.alerts if a.kind == job_pb2.HEALTH_STATE_MISSED]
    assert missed, alerts
    assert skipped.error in missed[0].reason
    assert missed[0].execution_id == skipped.id  # opened by the first slot missed
    port = live.running.metrics_port
    assert port is not None
    seen = await scrape(port)
    labels = {"platform": tenant.platform.id, "handler": "report", "reason": "misfire"}
    assert value(seen, "cronstream_slots_skipped_total", **labels) >= 1


async def test_a_waiting_slot_can_be_cancelled_and_goes_with_its_job_cancelled(
    live: Live, tenant: Tenant
) -> None:
    # No worker serves "export": its slots stay pending, the reports wait.
    start_at = soon()
    export = await create(live, tenant, every_two_seconds("export", start_at))
    report = await create(
        live, tenant, every_two_seconds("report", start_at, depends_on=[export.id])
    )

    async def waiting() -> list[execution_pb2.Execution]:
        return [e for e in await executions(live, tenant, report.id) if e.status == WAITING]

    async def three_waiting() -> bool:
        return len(await waiting()) >= 3

    await eventually(three_waiting, within=15)
    first, *others = sorted(await waiting(), key=lambda e: e.scheduled_at.ToDatetime())
    cancelled = await live.scheduler.CancelExecution(
        pb.CancelExecutionRequest(id=first.id), metadata=tenant.auth
    )
    assert cancelled.execution.status == CANCELLED
    assert cancelled.execution.error == "cancelled by user"
    assert not cancelled.execution.waiting_for
    await live.scheduler.CancelJob(pb.CancelJobRequest(id=report.id), metadata=tenant.auth)
    after = {e.id: e for e in await executions(live, tenant, report.id)}
    assert after[first.id].error == "cancelled by user"
    # A slot fired ahead whose instant had not come is withdrawn (at most the
    # newest: slots are 2 s apart and fired 0.5 s ahead); the others cancelled.
    kept = [o for o in others if o.id in after]
    assert kept and all(o.id in after for o in others[:-1])
    for other in kept:
        assert (after[other.id].status, after[other.id].error) == (CANCELLED, "job cancelled")
    assert not [e for e in after.values() if e.status == WAITING]


async def test_deleting_the_dependency_takes_its_edge_and_releases_the_waiting_slot(
    live: Live, tenant: Tenant
) -> None:
    start_at = soon()
    export = await create(live, tenant, every_two_seconds("export", start_at))
    report = await create(
        live, tenant, every_two_seconds("report", start_at, depends_on=[export.id])
    )

    async def statuses() -> set[int]:
        return {e.status for e in await executions(live, tenant, report.id)}

    async def some_waiting() -> bool:
        return WAITING in await statuses()

    async def released() -> bool:
        return WAITING not in await statuses() and PENDING in await statuses()

    await eventually(some_waiting, within=10)
    await live.scheduler.DeleteJob(pb.DeleteJobRequest(id=export.id), metadata=tenant.auth)
    got = await live.scheduler.GetJob(pb.GetJobRequest(id=report.id), metadata=tenant.auth)
    assert list(got.job.depends_on) == []
    await eventually(released, within=5)


# --- the graph -------------------------------------------------------------------------


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def refused(call: Awaitable[object]) -> dict[str, str]:
    """The BadRequest field violations of a call that must fail INVALID_ARGUMENT."""
    return violations(await expect_code(call, grpc.StatusCode.INVALID_ARGUMENT))


async def test_a_cycle_is_refused_naming_it_by_names_and_ids(live: Live, tenant: Tenant) -> None:
    export = await create(live, tenant, cron_job(name="export"))
    load = await create(live, tenant, cron_job(name="load", depends_on=[export.id]))
    report = await create(live, tenant, cron_job(name="report", depends_on=[load.id]))

    closing = pb.UpdateJobRequest(
        job=job_pb2.Job(id=export.id, depends_on=[report.id]), update_mask=mask("depends_on")
    )
    cycle = (
        f"cycle: export ({export.id}) -> report ({report.id}) -> load ({load.id})"
        f" -> export ({export.id})"
    )
    assert await refused(live.scheduler.UpdateJob(closing, metadata=tenant.auth)) == {
        "job.depends_on[0]": cycle
    }
    itself = pb.UpdateJobRequest(
        job=job_pb2.Job(id=export.id, depends_on=[export.id]), update_mask=mask("depends_on")
    )
    assert await refused(live.scheduler.UpdateJob(itself, metadata=tenant.auth)) == {
        "job.depends_on[0]": f"cycle: export ({export.id}) -> export ({export.id})"
    }
    got = await live.scheduler.GetJob(pb.GetJobRequest(id=export.id), metadata=tenant.auth)
    assert list(got.job.depends_on) == []  # nothing was stored

    # Re-pointing an edge so that no cycle remains is fine, and keeps the order given.
    repoint = pb.UpdateJobRequest(
        job=job_pb2.Job(id=report.id, depends_on=[export.id, load.id], max_wait=seconds(600)),
        update_mask=mask("depends_on", "max_wait"),
    )
    updated = (await live.scheduler.UpdateJob(repoint, metadata=tenant.auth)).job
    assert list(updated.depends_on) == [export.id, load.id]
    assert updated.max_wait.ToTimedelta() == timedelta(minutes=10)


async def test_unknown_ids_and_another_platforms_jobs_are_refused_alike(
    live: Live, tenant: Tenant
) -> None:
    other = await make_tenant(live, "globex")
    theirs = await create(live, other, cron_job(name="their export"))
    ours = await create(live, tenant, cron_job(name="export"))
    job = cron_job(name="report", depends_on=[ours.id, theirs.id, new_id(), "not-an-id"])
    unknown = "is not a job of this platform"
    # A malformed id is told at once, before the platform's jobs are read.
    malformed = live.scheduler.CreateJob(pb.CreateJobRequest(job=job), metadata=tenant.auth)
    assert await refused(malformed) == {"job.depends_on[3]": unknown}
    well_formed = cron_job(name="report", depends_on=[ours.id, theirs.id, new_id()])
    assert await refused(
        live.scheduler.CreateJob(pb.CreateJobRequest(job=well_formed), metadata=tenant.auth)
    ) == {"job.depends_on[1]": unknown, "job.depends_on[2]": unknown}
    batch = pb.BatchCreateJobsRequest(
        requests=[
            pb.CreateJobRequest(job=cron_job(name="fine", depends_on=[ours.id])),
            pb.CreateJobRequest(job=cron_job(name="theirs", depends_on=[theirs.id])),
        ]
    )
    assert await refused(live.scheduler.BatchCreateJobs(batch, metadata=tenant.auth)) == {
        "requests[1].job.depends_on[0]": unknown
    }
    listed = await live.scheduler.ListJobs(pb.ListJobsRequest(), metadata=tenant.auth)
    assert [j.name for j in listed.jobs] == ["export"]  # the batch stored nothing


async def test_what_depends_on_may_not_hold(live: Live, tenant: Tenant) -> None:
    ours = await create(live, tenant, cron_job(name="export"))
    event = job_pb2.Job(
        name="on signup",
        handler_name="h",
        event=job_pb2.EventTrigger(event_name="signup"),
        depends_on=[ours.id],
    )
    too_many = cron_job(depends_on=[new_id() for _ in range(17)])
    repeated = cron_job(depends_on=[ours.id, ours.id], max_wait=seconds(8 * 86_400))
    cases = [
        (event, {"job.depends_on": "an event job has no slots to hold back"}),
        (too_many, {"job.depends_on": "names 17 jobs; at most 16"}),
        (
            repeated,
            {
                "job.depends_on[1]": "repeats job.depends_on[0]",
                "job.max_wait": "must be at most 7 days",
            },
        ),
    ]
    for job, expected in cases:
        call = live.scheduler.CreateJob(pb.CreateJobRequest(job=job), metadata=tenant.auth)
        assert await refused(call) == expected
