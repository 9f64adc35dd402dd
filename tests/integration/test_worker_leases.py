"""Leases, fencing, deadlines, cancellation and drain over the worker stream,
on SQLite and Postgres (leases of 1 s, heartbeats every 0.25 s)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from cronstream.v1 import execution_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream.v1 import worker_service_pb2 as wpb
from cronstream_server.store.database import create_engine
from cronstream_server.store.tables import job_executions
from sqlalchemy import select

from tests.conftest import Live, Tenant
from tests.integration.worker_harness import (
    HEARTBEAT,
    LEASE,
    RawWorker,
    execution,
    job,
    make_job,
    run,
    short_lease_server,
    status_becomes,
)
from tests.jobs import seconds

PENDING = execution_pb2.EXECUTION_STATUS_PENDING
RUNNING = execution_pb2.EXECUTION_STATUS_RUNNING
SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS
TIMEOUT = execution_pb2.EXECUTION_STATUS_TIMEOUT
CANCELLED = execution_pb2.EXECUTION_STATUS_CANCELLED


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    async with short_lease_server(database_url) as server:
        yield server


async def test_a_closed_stream_redelivers_and_fences_the_old_attempt(
    live: Live, tenant: Tenant
) -> None:
    pending = await run(live, tenant, (await make_job(live, tenant)).id)
    first = await RawWorker.connect(live, tenant, worker_id="first")
    old = await first.expect("assignment")
    assert old.attempt == 1
    await first.close()

    second = await RawWorker.connect(live, tenant, worker_id="second")
    new = await second.expect("assignment", within=LEASE / 2)  # at once, not after the lease
    assert (new.execution_id, new.attempt) == (pending.id, 2)
    # The first worker's late result, sent after it reconnected: refused, but acked.
    late = await RawWorker.connect(live, tenant, worker_id="first", slots=0)
    await late.succeed(old, stale=True)
    assert (await late.expect("result_ack")).execution_id == pending.id
    current = await execution(live, tenant, pending.id)
    assert (current.status, current.attempt, current.worker_id) == (RUNNING, 2, "second")

    await second.succeed(new, fresh=True)
    await second.expect("result_ack")
    done = await execution(live, tenant, pending.id)
    assert (done.status, dict(done.result)) == (SUCCESS, {"fresh": True})
    await late.close()
    await second.close()


async def test_hello_running_keeps_the_attempt_after_a_reconnect(
    live: Live, tenant: Tenant
) -> None:
    pending = await run(live, tenant, (await make_job(live, tenant)).id)
    before = await RawWorker.connect(live, tenant)
    assignment = await before.expect("assignment")
    # The worker lost its connection without the server noticing, and reconnects.
    after = await RawWorker.connect(
        live, tenant, running=[(pending.id, 1), ("01900000-0000-7000-8000-000000000000", 1)]
    )
    cancel = await after.expect("cancel")  # the unknown one is not its own any more
    assert (cancel.execution_id, cancel.reason) == (
        "01900000-0000-7000-8000-000000000000",
        "lease lost",
    )
    await before.close()
    for _ in range(int((LEASE + 0.5) / HEARTBEAT)):  # past the first lease, kept by heartbeats
        await after.heartbeat(pending.id)
        await asyncio.sleep(HEARTBEAT)
    await after.quiet(0.1)  # no redelivery to the reconnected worker
    kept = await execution(live, tenant, pending.id)
    assert (kept.status, kept.attempt) == (RUNNING, 1)
    await after.succeed(assignment)
    await after.expect("result_ack")
    assert (await execution(live, tenant, pending.id)).status == SUCCESS
    await after.close()


async def test_what_a_reconnected_worker_does_not_name_runs_again_at_once(
    live: Live, tenant: Tenant
) -> None:
    # A replica claimed an execution for this worker and died before sending
    # it: the worker reconnects (same worker id) without naming it, so it runs
    # again now, not a lease later.
    pending = await run(live, tenant, (await make_job(live, tenant)).id)
    before = await RawWorker.connect(live, tenant, worker_id="w-1")
    await before.expect("assignment")
    other = await RawWorker.connect(live, tenant, worker_id="w-2", handlers=["other"])
    held = await execution(live, tenant, pending.id)
    assert (held.status, held.attempt) == (RUNNING, 1)  # another worker's hello took nothing

    after = await RawWorker.connect(live, tenant, worker_id="w-1", running=[])
    again = await after.expect("assignment", within=LEASE / 2)
    assert (again.execution_id, again.attempt) == (pending.id, 2)
    await after.succeed(again)
    await after.expect("result_ack")
    done = await execution(live, tenant, pending.id)
    assert (done.status, done.attempt, done.retry_count) == (SUCCESS, 2, 0)  # no retry used
    for worker in (before, other, after):
        await worker.close()


async def test_heartbeats_keep_a_long_attempt_and_silence_loses_it(
    live: Live, tenant: Tenant
) -> None:
    created = await make_job(live, tenant)
    long_one = await run(live, tenant, created.id)
    worker = await RawWorker.connect(live, tenant)
    assignment = await worker.expect("assignment")
    for _ in range(int((LEASE + 0.5) / HEARTBEAT)):
        await worker.heartbeat(long_one.id)
        await asyncio.sleep(HEARTBEAT)
    assert (await execution(live, tenant, long_one.id)).status == RUNNING
    await worker.succeed(assignment)
    await worker.expect("result_ack")
    assert (await execution(live, tenant, long_one.id)).attempt == 1

    silent = await run(live, tenant, created.id)
    held = await worker.expect("assignment")
    cancel = await worker.expect("cancel", within=LEASE + 2)  # no heartbeat: the lease runs out
    assert (cancel.execution_id, cancel.reason) == (silent.id, "lease lost")
    await worker.heartbeat()  # "I run nothing": the slot is free again
    again = await worker.expect("assignment")
    assert (again.execution_id, again.attempt) == (silent.id, held.attempt + 1)
    await worker.close()


async def test_past_its_deadline_an_attempt_is_cancelled_retried_then_timed_out(
    live: Live, tenant: Tenant
) -> None:
    created = await make_job(
        live, tenant, timeout=seconds(0.5), max_retries=1, retry_delay=seconds(0.1)
    )
    pending = await run(live, tenant, created.id)
    worker = await RawWorker.connect(live, tenant)
    for attempt in (1, 2):
        assignment = await worker.expect("assignment", within=3)
        assert assignment.attempt == attempt
        assert assignment.deadline.ToDatetime() > assignment.scheduled_at.ToDatetime()
        cancel = await worker.expect("cancel", within=3)
        assert (cancel.execution_id, cancel.reason) == (pending.id, "timeout")
        await worker.fail(assignment, error="cancelled: timeout")  # acked, changes nothing
        await worker.expect("result_ack")
    final = await status_becomes(live, tenant, pending.id, TIMEOUT)
    assert (final.retry_count, final.error) == (1, "timed out after 0.5s")
    assert (await job(live, tenant, created.id)).failure_count == 1
    await worker.close()


async def test_cancel_execution_reaches_the_worker_within_a_second(
    live: Live, tenant: Tenant
) -> None:
    pending = await run(live, tenant, (await make_job(live, tenant)).id)
    worker = await RawWorker.connect(live, tenant)
    assignment = await worker.expect("assignment")
    await live.scheduler.CancelExecution(
        pb.CancelExecutionRequest(id=pending.id), metadata=tenant.auth
    )
    cancel = await worker.expect("cancel", within=1.0)
    assert (cancel.execution_id, cancel.reason) == (pending.id, "cancelled")
    await worker.fail(assignment, error="cancelled")
    await worker.expect("result_ack")
    assert (await execution(live, tenant, pending.id)).status == CANCELLED
    await worker.close()


async def test_shutdown_drains_then_hands_back_what_is_unfinished(
    live: Live, tenant: Tenant
) -> None:
    created = await make_job(live, tenant)
    quick, slow = await run(live, tenant, created.id), await run(live, tenant, created.id)
    worker = await RawWorker.connect(live, tenant, slots=2)
    held = {(a := await worker.expect("assignment")).execution_id: a for _ in range(2)}
    stopping = asyncio.create_task(live.running.stop())
    await worker.expect("drain")
    await worker.succeed(held[quick.id])  # within the grace period: applied
    assert (await worker.expect("result_ack")).execution_id == quick.id
    assert await worker.ended(within=5) == grpc.StatusCode.UNAVAILABLE
    await stopping

    engine = create_engine(live.database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        job_executions.c.id,
                        job_executions.c.status,
                        job_executions.c.attempt,
                        job_executions.c.lease_expires_at,
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    by_id = {row.id: row for row in rows}
    assert by_id[quick.id].status == "success"
    assert (by_id[slow.id].status, by_id[slow.id].attempt) == ("pending", 2)
    assert by_id[slow.id].lease_expires_at is None


async def test_a_second_hello_or_bad_capacity_ends_the_stream(live: Live, tenant: Tenant) -> None:
    worker = await RawWorker.connect(live, tenant)
    await worker.send(capacity=wpb.WorkerCapacity(slots=10_001))
    assert await worker.ended() == grpc.StatusCode.INVALID_ARGUMENT
    again = await RawWorker.connect(live, tenant)
    await again.send(hello=wpb.WorkerHello(worker_id="w", handler_names=["h"], slots=1))
    assert await again.ended() == grpc.StatusCode.INVALID_ARGUMENT
