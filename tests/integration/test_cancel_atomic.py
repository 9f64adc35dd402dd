"""Use cases are one transaction each: a connection lost between the steps
of one (CancelJob: the job cancelled, then its pending executions; RunJob: the
execution stored, then counted on its job) leaves none of them applied."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from cronstream.v1 import execution_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from sqlalchemy import event

from tests.conftest import Live, Tenant
from tests.integration.worker_harness import execution, job, make_job, run
from tests.status import expect_code

PENDING = execution_pb2.EXECUTION_STATUS_PENDING
CANCELLED = execution_pb2.EXECUTION_STATUS_CANCELLED


@contextmanager
def connection_lost_when(
    marker: str, live: Live, *, in_statement: bool = False
) -> Iterator[list[str]]:
    """The server's connection fails (as a killed backend's would) on the
    statement that carries `marker` among its parameters (or in its text)."""
    hit: list[str] = []

    def fail(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if marker in (statement if in_statement else repr(parameters)):
            hit.append(statement)
            raise ConnectionResetError("injected: the connection was lost")

    engine = live.running.engine.sync_engine
    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield hit
    finally:
        event.remove(engine, "before_cursor_execute", fail)


async def test_a_cancel_that_fails_midway_changes_nothing(live: Live, tenant: Tenant) -> None:
    created = await make_job(live, tenant)
    pending = await run(live, tenant, created.id)

    # The step after the job's own update: cancelling its pending executions.
    with connection_lost_when("job cancelled", live) as hit:
        await expect_code(
            live.scheduler.CancelJob(pb.CancelJobRequest(id=created.id), metadata=tenant.auth),
            grpc.StatusCode.UNAVAILABLE,
        )
    assert hit, "the injected failure never happened"
    assert (await job(live, tenant, created.id)).status == job_pb2.JOB_STATUS_ACTIVE
    assert (await execution(live, tenant, pending.id)).status == PENDING

    # Once the database answers, the same call applies both steps.
    response = await live.scheduler.CancelJob(
        pb.CancelJobRequest(id=created.id), metadata=tenant.auth
    )
    assert response.job.status == job_pb2.JOB_STATUS_CANCELLED
    cancelled = await execution(live, tenant, pending.id)
    assert (cancelled.status, cancelled.error) == (CANCELLED, "job cancelled")


async def test_a_run_that_fails_midway_stores_nothing(live: Live, tenant: Tenant) -> None:
    created = await make_job(live, tenant)

    # The step after the execution's insert: counting it on its job.
    with connection_lost_when("SET executions_count", live, in_statement=True) as hit:
        await expect_code(
            live.scheduler.RunJob(pb.RunJobRequest(id=created.id), metadata=tenant.auth),
            grpc.StatusCode.UNAVAILABLE,
        )
    assert hit, "the injected failure never happened"
    listed = await live.scheduler.ListExecutions(
        pb.ListExecutionsRequest(job_id=created.id), metadata=tenant.auth
    )
    assert list(listed.executions) == []
    assert (await job(live, tenant, created.id)).executions_count == 0

    ran = await live.scheduler.RunJob(pb.RunJobRequest(id=created.id), metadata=tenant.auth)
    assert ran.execution.job_id == created.id
    assert (await job(live, tenant, created.id)).executions_count == 1
