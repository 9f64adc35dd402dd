"""Batched worker messages over real gRPC on SQLite and Postgres: a worker
whose hello accepts batches gets a dispatch round's assignments in one
message and its results' acks in one; any worker may send `results`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from cronstream.v1 import execution_pb2
from cronstream.v1 import worker_service_pb2 as wpb

from tests.conftest import Live, Tenant
from tests.integration.worker_harness import (
    RawWorker,
    execution,
    job,
    make_job,
    run,
    short_lease_server,
)
from tests.status import violations

SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS
FAILED = execution_pb2.EXECUTION_STATUS_FAILED


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    async with short_lease_server(database_url) as server:
        yield server


def _success(assignment: wpb.Assignment) -> wpb.WorkerResult:
    return wpb.WorkerResult(
        execution_id=assignment.execution_id,
        attempt=assignment.attempt,
        success=wpb.ResultSuccess(),
    )


async def _pending(live: Live, tenant: Tenant, count: int) -> tuple[str, set[str]]:
    created = await make_job(live, tenant)
    ids = {(await run(live, tenant, created.id)).id for _ in range(count)}
    return created.id, ids


async def test_the_welcome_says_the_server_takes_batches(live: Live, tenant: Tenant) -> None:
    worker = await RawWorker.connect(live, tenant)
    assert worker.welcome.accepts_batches is True
    await worker.close()


async def test_a_round_of_assignments_and_their_acks_come_in_one_message_each(
    live: Live, tenant: Tenant
) -> None:
    job_id, ids = await _pending(live, tenant, 6)
    worker = await RawWorker.connect(live, tenant, slots=10, accepts_batches=True)
    batch = (await worker.expect("assignments")).assignments
    assert {a.execution_id for a in batch} == ids
    assert all(a.handler_name == "h" and a.attempt == 1 for a in batch)

    await worker.send(results=wpb.WorkerResults(results=[_success(a) for a in batch]))
    acks = (await worker.expect("result_acks")).acks
    assert {ack.execution_id for ack in acks} == ids
    done = [await execution(live, tenant, execution_id) for execution_id in ids]
    assert all(e.status == SUCCESS for e in done)
    # Six successes of one job settled together: counted once each, and the
    # mean is over all six.
    counted = await job(live, tenant, job_id)
    assert counted.success_count == 6
    durations_ms = [e.duration.ToMilliseconds() for e in done]
    assert counted.avg_duration.ToMilliseconds() == sum(durations_ms) // 6
    await worker.close()


async def test_a_worker_without_batches_gets_one_message_per_item(
    live: Live, tenant: Tenant
) -> None:
    _, ids = await _pending(live, tenant, 3)
    worker = await RawWorker.connect(live, tenant, slots=10)
    assignments = [await worker.expect("assignment") for _ in range(3)]
    assert {a.execution_id for a in assignments} == ids
    # It may still send a batch of results; the acks come one by one.
    await worker.send(results=wpb.WorkerResults(results=[_success(a) for a in assignments]))
    acked = {(await worker.expect("result_ack")).execution_id for _ in range(3)}
    assert acked == ids
    await worker.close()


async def test_a_batch_with_a_bad_result_is_refused_whole_and_applies_nothing(
    live: Live, tenant: Tenant
) -> None:
    _, ids = await _pending(live, tenant, 2)
    worker = await RawWorker.connect(live, tenant, slots=10, accepts_batches=True)
    first, second = (await worker.expect("assignments")).assignments
    bad = wpb.WorkerResult(execution_id=second.execution_id, attempt=0)
    await worker.send(results=wpb.WorkerResults(results=[_success(first), bad]))
    error = await _stream_error(worker)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "results.results[1].attempt" in violations(error)
    stored = [await execution(live, tenant, execution_id) for execution_id in ids]
    assert all(e.status != SUCCESS for e in stored)


async def test_an_empty_batch_is_invalid_argument_naming_the_field(
    live: Live, tenant: Tenant
) -> None:
    worker = await RawWorker.connect(live, tenant, accepts_batches=True)
    await worker.send(results=wpb.WorkerResults())
    error = await _stream_error(worker)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "results.results" in violations(error)


async def _stream_error(worker: RawWorker) -> grpc.aio.AioRpcError:
    """The status the stream ended with, skipping messages before it."""
    while True:
        item = await asyncio.wait_for(worker.inbox.get(), 5)
        if isinstance(item, grpc.aio.AioRpcError):
            return item
        assert item is None or isinstance(item, wpb.ConnectResponse), item
