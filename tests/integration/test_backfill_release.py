"""Backfilled executions wait (WAITING) for their release by the gate: at the
rate for an ALLOW backfill, one at a time and oldest first for a BUFFER_ONE
one, after their dependencies as a live slot, over a live server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from cronstream.v1 import execution_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

from tests.conftest import Live, Tenant, make_tenant
from tests.integration.test_backfill import backfill, executions_of
from tests.integration.worker_harness import RawWorker, eventually, short_lease_server
from tests.jobs import create, cron_job

WAITING = execution_pb2.EXECUTION_STATUS_WAITING
PENDING = execution_pb2.EXECUTION_STATUS_PENDING
SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS
FAILED = execution_pb2.EXECUTION_STATUS_FAILED
CANCELLED = execution_pb2.EXECUTION_STATUS_CANCELLED
BUFFER_ONE = job_pb2.OVERLAP_POLICY_BUFFER_ONE
START = datetime(2025, 1, 1, tzinfo=UTC)
LEASES = {"lease_seconds": 30.0, "heartbeat_seconds": 10.0}  # none lost mid-test


def statuses(made: list[execution_pb2.Execution]) -> list[int]:
    return [e.status for e in made]


async def test_backfilled_executions_wait_without_deadline_until_released(
    database_url: str,
) -> None:
    async with short_lease_server(database_url, backfill_rate=2.0, **LEASES) as live:
        tenant = await make_tenant(live, "released")
        job = await create(live, tenant, cron_job("0 * * * *", handler_name="idle"))
        done = await backfill(live, tenant, job.id, START, START + timedelta(hours=3))
        assert done.created == 3

        # Released 0, 0.5 and 1 s after the call: the last is still waiting.
        made = await executions_of(live, tenant, job.id)
        assert made[-1].status == WAITING
        assert not made[-1].HasField("wait_deadline") and list(made[-1].waiting_for) == []

        async def all_pending() -> bool:
            return statuses(await executions_of(live, tenant, job.id)) == [PENDING] * 3

        await eventually(all_pending)


async def test_a_buffer_one_backfill_runs_one_at_a_time_oldest_first(
    live: Live, tenant: Tenant
) -> None:
    job = await create(live, tenant, cron_job("0 * * * *", handler_name="h"))
    worker = await RawWorker.connect(live, tenant, handlers=("h",), slots=4)
    try:
        done = await backfill(
            live, tenant, job.id, START, START + timedelta(hours=4), overlap_policy=BUFFER_ONE
        )
        assert done.created == 4
        handed: list[datetime] = []
        for index in range(4):
            assignment = await worker.expect("assignment")
            handed.append(assignment.scheduled_at.ToDatetime(tzinfo=UTC))
            # Four slots free and all four due by now: none other comes
            # while this one runs.
            await worker.quiet(0.3)
            if index == 1:  # a failure ends its turn as a success does
                await worker.fail(assignment, retryable=False)
            else:
                await worker.succeed(assignment, ok=True)
            await worker.expect("result_ack")
    finally:
        await worker.close()
    assert handed == [START + timedelta(hours=h) for h in range(4)]
    made = await executions_of(live, tenant, job.id)
    assert statuses(made) == [SUCCESS, FAILED, SUCCESS, SUCCESS]
    spans = [(e.started_at.ToDatetime(), e.completed_at.ToDatetime()) for e in made]
    for (_, ended), (began, _) in zip(spans, spans[1:], strict=False):
        assert ended <= began  # in instant order, never two at once


async def test_cancelling_the_job_cancels_its_waiting_backfilled_ones(
    live: Live, tenant: Tenant
) -> None:
    job = await create(live, tenant, cron_job("0 * * * *", handler_name="idle"))
    hours = START + timedelta(hours=5)
    done = await backfill(live, tenant, job.id, START, hours, overlap_policy=BUFFER_ONE)
    assert done.created == 5

    async def first_released() -> bool:
        return statuses(await executions_of(live, tenant, job.id)) == [PENDING] + [WAITING] * 4

    await eventually(first_released)
    await live.scheduler.CancelJob(pb.CancelJobRequest(id=job.id), metadata=tenant.auth)
    assert statuses(await executions_of(live, tenant, job.id)) == [CANCELLED] * 5


async def test_a_dependent_jobs_backfilled_slot_waits_for_its_dependency(
    live: Live, tenant: Tenant
) -> None:
    export = await create(live, tenant, cron_job("0 * * * *", name="export", handler_name="d"))
    report = await create(
        live,
        tenant,
        cron_job("0 * * * *", name="report", handler_name="r", depends_on=[export.id]),
    )
    end = START + timedelta(hours=1)
    assert (await backfill(live, tenant, export.id, START, end)).created == 1
    assert (await backfill(live, tenant, report.id, START, end)).created == 1

    async def held() -> bool:
        [slot] = await executions_of(live, tenant, report.id)
        return slot.status == WAITING and list(slot.waiting_for) == [export.id]

    await eventually(held)
    await asyncio.sleep(0.3)  # gate passes: no worker runs the export, it still waits
    assert await held()
    worker = await RawWorker.connect(live, tenant, handlers=("d",), slots=1)
    try:
        await worker.succeed(await worker.expect("assignment"), ok=True)
        await worker.expect("result_ack")
    finally:
        await worker.close()

    async def released() -> bool:
        [slot] = await executions_of(live, tenant, report.id)
        return slot.status == PENDING and not slot.HasField("wait_deadline")

    await eventually(released)
