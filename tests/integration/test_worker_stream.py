"""WorkerService.Connect over real gRPC on SQLite and Postgres: handshake,
assignments, results, flow control, priorities, logs and tenancy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from cronstream.v1 import execution_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream.v1 import worker_service_pb2 as wpb
from google.protobuf import struct_pb2
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import Live, Tenant, make_tenant
from tests.integration.worker_harness import (
    HEARTBEAT,
    LEASE,
    RawWorker,
    execution,
    job,
    make_job,
    run,
    short_lease_server,
)
from tests.status import expect_code, violations

SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS
RUNNING = execution_pb2.EXECUTION_STATUS_RUNNING


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    async with short_lease_server(database_url) as server:
        yield server


async def test_hello_is_welcomed_with_the_session_settings(live: Live, tenant: Tenant) -> None:
    worker = await RawWorker.connect(live, tenant)
    assert len(worker.welcome.session_id) == 36
    assert worker.welcome.heartbeat_interval.ToTimedelta() == timedelta(seconds=HEARTBEAT)
    assert worker.welcome.lease_duration.ToTimedelta() == timedelta(seconds=LEASE)
    metrics = await live.scheduler.GetMetrics(pb.GetMetricsRequest(), metadata=tenant.auth)
    assert metrics.metrics.connected_workers == 1
    await worker.close()


@pytest.mark.parametrize(
    ("first", "field"),
    [
        (wpb.ConnectRequest(capacity=wpb.WorkerCapacity(slots=1)), "hello"),
        (wpb.ConnectRequest(hello=wpb.WorkerHello(worker_id="w", slots=1)), "hello.handler_names"),
        (
            wpb.ConnectRequest(hello=wpb.WorkerHello(worker_id="w", handler_names=["h"], slots=-1)),
            "hello.slots",
        ),
        (wpb.ConnectRequest(hello=wpb.WorkerHello(handler_names=["h"])), "hello.worker_id"),
    ],
)
async def test_a_bad_first_message_is_invalid_argument(
    live: Live, tenant: Tenant, first: wpb.ConnectRequest, field: str
) -> None:
    async def requests() -> AsyncIterator[wpb.ConnectRequest]:
        yield first

    async def drain() -> None:
        async for _ in live.workers.Connect(requests(), metadata=tenant.auth):
            pass

    error = await expect_code(drain(), grpc.StatusCode.INVALID_ARGUMENT)
    assert field in violations(error)


async def test_a_result_is_applied_acknowledged_and_counted(live: Live, tenant: Tenant) -> None:
    created = await make_job(live, tenant, payload=_struct(n=7))
    pending = await run(live, tenant, created.id)
    worker = await RawWorker.connect(live, tenant)
    assignment = await worker.expect("assignment")
    assert (assignment.execution_id, assignment.job_id) == (pending.id, created.id)
    assert (assignment.handler_name, assignment.attempt) == ("h", 1)
    assert dict(assignment.payload) == {"n": 7}
    assert assignment.traceparent.startswith("00-") and assignment.deadline.seconds > 0
    running = await execution(live, tenant, pending.id)
    assert running.status == RUNNING and running.worker_id == "worker-1"
    assert running.trace_id == assignment.traceparent.split("-")[1]

    await asyncio.sleep(0.05)
    await worker.succeed(assignment, answer=42)
    ack = await worker.expect("result_ack")
    assert ack.execution_id == pending.id
    done = await execution(live, tenant, pending.id)
    assert done.status == SUCCESS and dict(done.result) == {"answer": 42}
    assert done.duration.ToTimedelta() >= timedelta(milliseconds=40)
    assert done.completed_at.ToDatetime() >= done.started_at.ToDatetime()
    counted = await job(live, tenant, created.id)
    assert (counted.executions_count, counted.success_count, counted.failure_count) == (1, 1, 0)
    assert counted.avg_duration.ToTimedelta() == done.duration.ToTimedelta()

    # The same result again: acknowledged, changes nothing.
    await worker.succeed(assignment, answer=43)
    assert (await worker.expect("result_ack")).execution_id == pending.id
    again = await execution(live, tenant, pending.id)
    assert dict(again.result) == {"answer": 42}
    assert (await job(live, tenant, created.id)).success_count == 1
    await worker.close()


async def test_never_more_assignments_than_slots(live: Live, tenant: Tenant) -> None:
    created = await make_job(live, tenant)
    for _ in range(5):
        await run(live, tenant, created.id)
    worker = await RawWorker.connect(live, tenant, slots=2)
    first = [await worker.expect("assignment") for _ in range(2)]
    await worker.quiet(0.5)
    await worker.succeed(first[0])
    assert (await worker.expect("result_ack")).execution_id == first[0].execution_id
    third = await worker.expect("assignment")
    assert third.execution_id not in {a.execution_id for a in first}
    await worker.quiet(0.3)
    await worker.close()


async def test_capacity_zero_pauses_and_more_capacity_resumes(live: Live, tenant: Tenant) -> None:
    created = await make_job(live, tenant)
    worker = await RawWorker.connect(live, tenant, slots=0)
    for _ in range(3):
        await run(live, tenant, created.id)
    await worker.quiet(0.5)
    await worker.send(capacity=wpb.WorkerCapacity(slots=3))
    ids = {(await worker.expect("assignment")).execution_id for _ in range(3)}
    assert len(ids) == 3
    await worker.close()


async def test_critical_work_is_assigned_first_then_oldest(live: Live, tenant: Tenant) -> None:
    low = await make_job(live, tenant, priority=job_pb2.PRIORITY_LOW)
    critical = await make_job(live, tenant, priority=job_pb2.PRIORITY_CRITICAL)
    high = await make_job(live, tenant, priority=job_pb2.PRIORITY_HIGH)
    order = [
        await run(live, tenant, low.id),
        await run(live, tenant, high.id),
        await run(live, tenant, critical.id),
        await run(live, tenant, high.id),
    ]
    worker = await RawWorker.connect(live, tenant, slots=1)
    seen = []
    for _ in order:
        assignment = await worker.expect("assignment")
        seen.append(assignment.execution_id)
        await worker.succeed(assignment)
        await worker.expect("result_ack")
    assert seen == [order[2].id, order[1].id, order[3].id, order[0].id]
    await worker.close()


async def test_logs_are_stored_and_listed(live: Live, tenant: Tenant) -> None:
    created = await make_job(live, tenant)
    pending = await run(live, tenant, created.id)
    worker = await RawWorker.connect(live, tenant)
    assignment = await worker.expect("assignment")
    lines = [("starting", execution_pb2.LOG_LEVEL_INFO), ("careful", execution_pb2.LOG_LEVEL_WARN)]
    lines += [(f"step {i}", execution_pb2.LOG_LEVEL_DEBUG) for i in range(20)]
    for message, level in lines:
        await worker.send(log=wpb.WorkerLog(execution_id=pending.id, level=level, message=message))
    await worker.send(log=wpb.WorkerLog(execution_id=pending.id, message="nul\x00byte"))
    await worker.succeed(assignment)
    await worker.expect("result_ack")

    async def listed() -> list[execution_pb2.ExecutionLog]:
        response = await live.scheduler.ListExecutionLogs(
            pb.ListExecutionLogsRequest(execution_id=pending.id), metadata=tenant.auth
        )
        return list(response.logs)

    for _ in range(100):
        logs = await listed()
        if len(logs) == len(lines) + 1:
            break
        await asyncio.sleep(0.05)
    assert [(log.message, log.level) for log in logs[:-1]] == lines
    assert logs[-1].message == "nul\ufffdbyte" and logs[-1].level == execution_pb2.LOG_LEVEL_INFO
    assert all(log.attempt == 1 for log in logs)
    await worker.close()


async def test_an_ack_means_the_logs_sent_before_the_result_are_stored(
    live: Live, tenant: Tenant
) -> None:
    # Log lines are written in batches that linger 50 ms, results in batches
    # of 5 ms: the ack must still wait for the lines that came before it.
    pending = await run(live, tenant, (await make_job(live, tenant)).id)
    worker = await RawWorker.connect(live, tenant)
    assignment = await worker.expect("assignment")
    lines = [f"step {n}" for n in range(20)]
    for line in lines:
        await worker.send(log=wpb.WorkerLog(execution_id=pending.id, attempt=1, message=line))
    await worker.succeed(assignment, done=True)
    assert (await worker.expect("result_ack")).execution_id == pending.id

    listed = await live.scheduler.ListExecutionLogs(
        pb.ListExecutionLogsRequest(execution_id=pending.id), metadata=tenant.auth
    )
    assert [entry.message for entry in listed.logs] == lines
    await worker.close()


async def test_platforms_never_see_each_others_work(live: Live, tenant: Tenant) -> None:
    other = await make_tenant(live, "globex")
    ours = await run(live, tenant, (await make_job(live, tenant, handler="send")).id)
    theirs = await run(live, other, (await make_job(live, other, handler="send")).id)
    our_worker = await RawWorker.connect(live, tenant, handlers=["send"], slots=5)
    assert (await our_worker.expect("assignment")).execution_id == ours.id
    await our_worker.quiet(0.4)
    their_worker = await RawWorker.connect(live, other, handlers=["send"], slots=5)
    assert (await their_worker.expect("assignment")).execution_id == theirs.id

    # Nor can a worker settle or log to the other platform's execution.
    forged = wpb.WorkerResult(execution_id=theirs.id, attempt=1, success=wpb.ResultSuccess())
    await our_worker.send(result=forged)
    await our_worker.expect("result_ack")
    assert (await execution(live, other, theirs.id)).status == RUNNING
    await our_worker.close()
    await their_worker.close()


async def test_the_assignment_continues_the_stored_trace(
    live: Live, tenant: Tenant, spans: InMemorySpanExporter
) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    metadata = (*tenant.auth, ("traceparent", parent))
    created = await make_job(live, tenant)
    response = await live.scheduler.RunJob(pb.RunJobRequest(id=created.id), metadata=metadata)
    worker = await RawWorker.connect(live, tenant)
    assignment = await worker.expect("assignment")
    version, trace_id, span_id, flags = assignment.traceparent.split("-")
    assert (version, trace_id, flags) == ("00", "0af7651916cd43dd8448eb211c80319c", "01")
    stored = await execution(live, tenant, response.execution.id)
    assert (stored.trace_id, stored.span_id) == (trace_id, span_id)
    (span,) = [s for s in spans.get_finished_spans() if s.name == "send h"]
    assert f"{span.context.span_id:016x}" == span_id
    assert span.parent is not None and span.parent.trace_id == int(trace_id, 16)
    await worker.close()


def _struct(**values: object) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message
