"""Shared by the concurrency-key and rate-limit tests: jobs with limits,
executions listed, and what their recorded times say."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cronstream.v1 import execution_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from google.protobuf import struct_pb2

from tests.conftest import Live, Tenant
from tests.integration.worker_harness import RawWorker, make_job, run


async def keyed_job(
    live: Live,
    tenant: Tenant,
    key: str,
    limit: int,
    handler: str = "h",
    payload: dict[str, Any] | None = None,
    **fields: Any,
) -> job_pb2.Job:
    """A one-time job (due in a day) carrying a concurrency key, for RunJob."""
    if payload is not None:
        fields["payload"] = _struct(payload)
    return await make_job(
        live, tenant, handler, concurrency=job_pb2.ConcurrencyLimit(key=key, limit=limit), **fields
    )


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


async def run_times(live: Live, tenant: Tenant, job_id: str, count: int) -> list[str]:
    """RunJob `count` times; the executions' ids, in order."""
    return [(await run(live, tenant, job_id)).id for _ in range(count)]


async def executions_of(
    live: Live, tenant: Tenant, job_id: str = "", *statuses: int
) -> list[execution_pb2.Execution]:
    response = await live.scheduler.ListExecutions(
        pb.ListExecutionsRequest(job_id=job_id, statuses=statuses, page_size=1000),
        metadata=tenant.auth,
    )
    return list(response.executions)


def _instant(message: Any) -> datetime:
    return message.ToDatetime()  # type: ignore[no-any-return]


def most_at_once(executions: Sequence[execution_pb2.Execution]) -> int:
    """The most executions whose recorded [started_at, completed_at) overlap."""
    events: list[tuple[datetime, int]] = []
    for e in executions:
        events += [(_instant(e.started_at), 1), (_instant(e.completed_at), -1)]
    running = most = 0
    for _, change in sorted(events):  # an end sorts before a start at the same instant
        running += change
        most = max(most, running)
    return most


def started(executions: Sequence[execution_pb2.Execution]) -> list[datetime]:
    return sorted(_instant(e.started_at) for e in executions)


async def next_assignment(worker: RawWorker, within: float = 5.0) -> Any:
    """The next assignment the worker is sent, past acknowledgements."""
    while True:
        message = await worker.next(within)
        kind = message.WhichOneof("msg")
        if kind == "assignment":
            return message.assignment
        assert kind == "result_ack", f"expected an assignment, got {message}"
