"""What a dashboard reads of an execution: its log tail by sequence, when it
was due, and when a running one's lease ends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
from cronstream.v1 import execution_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream.v1 import worker_service_pb2 as wpb

from tests.conftest import Live, Tenant, make_tenant
from tests.integration.worker_harness import (
    LEASE,
    RawWorker,
    execution,
    make_job,
    run,
    short_lease_server,
    status_becomes,
)
from tests.status import expect_code, violations


async def _logs(
    live: Live, tenant: Tenant, execution_id: str, **request: int | str
) -> pb.ListExecutionLogsResponse:
    return await live.scheduler.ListExecutionLogs(
        pb.ListExecutionLogsRequest(execution_id=execution_id, **request), metadata=tenant.auth
    )


async def _log_lines(live: Live, tenant: Tenant, execution_id: str, count: int) -> list[str]:
    """Waits until `count` lines are stored (they are written in batches)."""
    for _ in range(200):
        logs = (await _logs(live, tenant, execution_id)).logs
        if len(logs) >= count:
            return [line.message for line in logs]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} log lines not stored in time")


async def test_a_tail_resumes_after_the_last_sequence_it_has(live: Live, tenant: Tenant) -> None:
    pending = await run(live, tenant, (await make_job(live, tenant)).id)
    worker = await RawWorker.connect(live, tenant)
    await worker.expect("assignment")
    for i in range(3):
        await worker.send(log=wpb.WorkerLog(execution_id=pending.id, message=f"first {i}"))
    await _log_lines(live, tenant, pending.id, 3)
    head = (await _logs(live, tenant, pending.id)).logs
    sequences = [line.sequence for line in head]
    assert sequences == sorted(sequences) and sequences[0] > 0 and len(set(sequences)) == 3

    for i in range(2):
        await worker.send(log=wpb.WorkerLog(execution_id=pending.id, message=f"then {i}"))
    await _log_lines(live, tenant, pending.id, 5)
    tail = await _logs(live, tenant, pending.id, after_sequence=sequences[-1])
    assert [line.message for line in tail.logs] == ["then 0", "then 1"]
    assert min(line.sequence for line in tail.logs) > sequences[-1]
    assert tail.next_page_token == ""

    # A tail pages like any list: its token continues after the page's last line.
    paged = await _logs(live, tenant, pending.id, after_sequence=sequences[0], page_size=2)
    assert [line.message for line in paged.logs] == ["first 1", "first 2"]
    rest = await _logs(live, tenant, pending.id, page_size=2, page_token=paged.next_page_token)
    assert [line.message for line in rest.logs] == ["then 0", "then 1"]
    last = tail.logs[-1].sequence
    assert (await _logs(live, tenant, pending.id, after_sequence=last)).logs == []
    await worker.close()


async def test_after_sequence_is_refused_negative_or_with_a_page_token(
    live: Live, tenant: Tenant
) -> None:
    pending = await run(live, tenant, (await make_job(live, tenant)).id)
    error = await expect_code(
        _logs(live, tenant, pending.id, after_sequence=-1), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert violations(error) == {"after_sequence": "must not be negative"}
    token = "eyJrIjpbIjEiXSwicyI6IngifQ"  # any token: the pair is refused before it is read
    error = await expect_code(
        _logs(live, tenant, pending.id, after_sequence=1, page_token=token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "after_sequence" in violations(error)


async def test_due_at_and_the_lease_of_a_running_execution(database_url: str) -> None:
    async with short_lease_server(database_url) as live:
        tenant = await make_tenant(live, "acme")
        pending = await run(live, tenant, (await make_job(live, tenant)).id)
        assert pending.due_at == pending.scheduled_at
        assert not pending.HasField("lease_expires_at")

        worker = await RawWorker.connect(live, tenant)
        assignment = await worker.expect("assignment")
        running = await execution(live, tenant, pending.id)
        assert running.status == execution_pb2.EXECUTION_STATUS_RUNNING
        started = running.started_at.ToDatetime(tzinfo=UTC)
        lease_end = running.lease_expires_at.ToDatetime(tzinfo=UTC)
        assert lease_end - started == timedelta(seconds=LEASE)

        await asyncio.sleep(0.3)
        await worker.heartbeat(pending.id)
        await _lease_moves_past(live, tenant, pending.id, lease_end)

        await worker.succeed(assignment)
        await worker.expect("result_ack")
        done = await status_becomes(
            live, tenant, pending.id, execution_pb2.EXECUTION_STATUS_SUCCESS
        )
        assert not done.HasField("lease_expires_at")
        assert done.due_at == pending.due_at
        await worker.close()


async def _lease_moves_past(
    live: Live, tenant: Tenant, execution_id: str, before: datetime
) -> None:
    for _ in range(100):
        found = await execution(live, tenant, execution_id)
        if found.lease_expires_at.ToDatetime(tzinfo=UTC) > before:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the heartbeat did not extend the lease")
