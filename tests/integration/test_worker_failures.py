"""Failed attempts over the worker stream, on SQLite and Postgres: backoff
retries, final failures, and one-time jobs failing with their slot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from cronstream.v1 import execution_pb2, job_pb2

from tests.conftest import Live, Tenant
from tests.integration.worker_harness import (
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
FAILED = execution_pb2.EXECUTION_STATUS_FAILED

# Backoff bounds for a 1 s retry_delay: 1 s then 2 s, times [0.8, 1.2], with
# some room for the time between the worker's send and the server's clock.
SLACK = 0.25


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    async with short_lease_server(database_url) as server:
        yield server


async def test_failures_back_off_exponentially_then_fail(live: Live, tenant: Tenant) -> None:
    created = await make_job(live, tenant, max_retries=2, retry_delay=seconds(1))
    pending = await run(live, tenant, created.id)
    worker = await RawWorker.connect(live, tenant)
    next_retry_at = datetime.now(UTC)
    for retry_count, base in ((0, 1.0), (1, 2.0)):
        assignment = await worker.expect("assignment", within=5)
        received = datetime.now(UTC)
        assert assignment.attempt == retry_count + 1
        assert received >= next_retry_at - timedelta(seconds=0.05)
        failed_at = datetime.now(UTC)
        await worker.fail(assignment, error=f"attempt {assignment.attempt} failed")
        await worker.expect("result_ack")
        waiting = await execution(live, tenant, pending.id)
        assert waiting.status == PENDING
        assert (waiting.retry_count, waiting.attempt) == (retry_count + 1, retry_count + 2)
        assert waiting.error == f"attempt {assignment.attempt} failed"
        next_retry_at = waiting.next_retry_at.ToDatetime(tzinfo=UTC)
        delay = (next_retry_at - failed_at).total_seconds()
        assert 0.8 * base - SLACK <= delay <= 1.2 * base + SLACK, delay

    last = await worker.expect("assignment", within=5)
    assert last.attempt == 3
    await worker.fail(last, error="still broken")
    await worker.expect("result_ack")
    final = await execution(live, tenant, pending.id)
    assert (final.status, final.retry_count, final.error) == (FAILED, 2, "still broken")
    assert final.error_stack == "Traceback: boom" and final.completed_at.seconds > 0
    counted = await job(live, tenant, created.id)
    assert (counted.success_count, counted.failure_count) == (0, 1)
    await worker.close()


async def test_a_failure_that_is_not_retryable_is_final(live: Live, tenant: Tenant) -> None:
    created = await make_job(live, tenant, max_retries=5)
    pending = await run(live, tenant, created.id)
    worker = await RawWorker.connect(live, tenant)
    assignment = await worker.expect("assignment")
    await worker.fail(assignment, error="bad input", retryable=False)
    await worker.expect("result_ack")
    final = await execution(live, tenant, pending.id)
    assert (final.status, final.retry_count, final.attempt) == (FAILED, 0, 1)
    assert final.error == "bad input"
    assert (await job(live, tenant, created.id)).failure_count == 1
    await worker.quiet(0.3)  # nothing is redelivered
    await worker.close()


async def test_a_one_time_job_fails_with_its_execution(live: Live, tenant: Tenant) -> None:
    worker = await RawWorker.connect(live, tenant, handlers=["once"])
    run_at = datetime.now(UTC) + timedelta(seconds=0.3)
    created = await make_job(live, tenant, handler="once", run_at=run_at, max_retries=0)
    assignment = await worker.expect("assignment", within=5)
    assert assignment.job_id == created.id
    assert (await job(live, tenant, created.id)).status == job_pb2.JOB_STATUS_COMPLETED
    await worker.fail(assignment)
    await worker.expect("result_ack")
    await status_becomes(live, tenant, assignment.execution_id, FAILED)
    failed = await job(live, tenant, created.id)
    assert (failed.status, failed.failure_count) == (job_pb2.JOB_STATUS_FAILED, 1)
    await worker.close()


async def test_a_result_that_cannot_be_stored_fails_the_attempt(live: Live, tenant: Tenant) -> None:
    created = await make_job(live, tenant)
    pending = await run(live, tenant, created.id)
    worker = await RawWorker.connect(live, tenant)
    assignment = await worker.expect("assignment")
    await worker.succeed(assignment, text="nul\x00inside")
    await worker.expect("result_ack")
    final = await execution(live, tenant, pending.id)
    assert final.status == FAILED
    assert final.error.startswith("result rejected: result.success.result")
    await worker.close()
