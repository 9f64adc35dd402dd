"""Tenancy is security: platform B cannot see or touch anything of platform A's.

For every RPC that takes an id, B's call on A's id must be answered exactly as
B's call on an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from cronstream.v1 import event_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from google.protobuf import field_mask_pb2

from tests.conftest import Live, Tenant, make_tenant
from tests.jobs import create, cron_job
from tests.status import expect_code

MISSING = "01900000-0000-7000-8000-000000000000"


async def _answer(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


async def _owned_by_a(live: Live, a: Tenant) -> dict[str, str]:
    job = await create(live, a, cron_job(name="a's job"))
    execution = (
        await live.scheduler.RunJob(pb.RunJobRequest(id=job.id), metadata=a.auth)
    ).execution
    handler = (
        await live.scheduler.CreateEventHandler(
            pb.CreateEventHandlerRequest(
                event_handler=event_pb2.EventHandler(event_name="a.event", handler_name="h")
            ),
            metadata=a.auth,
        )
    ).event_handler
    return {"job": job.id, "execution": execution.id, "handler": handler.id}


def _calls(live: Live, b: Tenant) -> dict[str, Callable[[str], Awaitable[Any]]]:
    s, auth = live.scheduler, b.auth
    mask = field_mask_pb2.FieldMask(paths=["name"])
    return {
        "GetJob": lambda i: s.GetJob(pb.GetJobRequest(id=i), metadata=auth),
        "UpdateJob": lambda i: s.UpdateJob(
            pb.UpdateJobRequest(job=job_pb2.Job(id=i, name="stolen"), update_mask=mask),
            metadata=auth,
        ),
        "DeleteJob": lambda i: s.DeleteJob(pb.DeleteJobRequest(id=i), metadata=auth),
        "PauseJob": lambda i: s.PauseJob(pb.PauseJobRequest(id=i), metadata=auth),
        "ResumeJob": lambda i: s.ResumeJob(pb.ResumeJobRequest(id=i), metadata=auth),
        "CancelJob": lambda i: s.CancelJob(pb.CancelJobRequest(id=i), metadata=auth),
        "RunJob": lambda i: s.RunJob(pb.RunJobRequest(id=i), metadata=auth),
        "ListExecutions": lambda i: s.ListExecutions(
            pb.ListExecutionsRequest(job_id=i), metadata=auth
        ),
        "GetJobStats": lambda i: s.GetJobStats(pb.GetJobStatsRequest(job_id=i), metadata=auth),
        "GetExecution": lambda i: s.GetExecution(pb.GetExecutionRequest(id=i), metadata=auth),
        "RetryExecution": lambda i: s.RetryExecution(pb.RetryExecutionRequest(id=i), metadata=auth),
        "CancelExecution": lambda i: s.CancelExecution(
            pb.CancelExecutionRequest(id=i), metadata=auth
        ),
        "ListExecutionLogs": lambda i: s.ListExecutionLogs(
            pb.ListExecutionLogsRequest(execution_id=i), metadata=auth
        ),
        "GetEventHandler": lambda i: s.GetEventHandler(
            pb.GetEventHandlerRequest(id=i), metadata=auth
        ),
        "UpdateEventHandler": lambda i: s.UpdateEventHandler(
            pb.UpdateEventHandlerRequest(
                event_handler=event_pb2.EventHandler(id=i, handler_name="stolen"),
                update_mask=field_mask_pb2.FieldMask(paths=["handler_name"]),
            ),
            metadata=auth,
        ),
        "DeleteEventHandler": lambda i: s.DeleteEventHandler(
            pb.DeleteEventHandlerRequest(id=i), metadata=auth
        ),
    }


RESOURCE_OF = {
    "GetExecution": "execution",
    "RetryExecution": "execution",
    "CancelExecution": "execution",
    "ListExecutionLogs": "execution",
    "GetEventHandler": "handler",
    "UpdateEventHandler": "handler",
    "DeleteEventHandler": "handler",
}


async def test_another_platforms_ids_look_like_missing_ids(live: Live) -> None:
    a = await make_tenant(live, "a")
    b = await make_tenant(live, "b")
    ids = await _owned_by_a(live, a)
    for name, call in _calls(live, b).items():
        target = ids[RESOURCE_OF.get(name, "job")]
        on_theirs = await _answer(call(target))
        on_missing = await _answer(call(MISSING))
        assert on_theirs[0] == on_missing[0] == grpc.StatusCode.NOT_FOUND, name
        assert on_theirs[1].replace(target, "ID") == on_missing[1].replace(MISSING, "ID"), name

    # A's things are untouched by all of that.
    job = (await live.scheduler.GetJob(pb.GetJobRequest(id=ids["job"]), metadata=a.auth)).job
    assert (job.name, job.status) == ("a's job", job_pb2.JOB_STATUS_ACTIVE)
    execution = (
        await live.scheduler.GetExecution(
            pb.GetExecutionRequest(id=ids["execution"]), metadata=a.auth
        )
    ).execution
    assert execution.status == 1  # still pending
    handler = (
        await live.scheduler.GetEventHandler(
            pb.GetEventHandlerRequest(id=ids["handler"]), metadata=a.auth
        )
    ).event_handler
    assert handler.handler_name == "h"


async def test_lists_metrics_and_events_never_cross_platforms(live: Live) -> None:
    a = await make_tenant(live, "a")
    b = await make_tenant(live, "b")
    await _owned_by_a(live, a)
    s = live.scheduler
    assert list((await s.ListJobs(pb.ListJobsRequest(), metadata=b.auth)).jobs) == []
    assert (
        list((await s.ListExecutions(pb.ListExecutionsRequest(), metadata=b.auth)).executions) == []
    )
    assert (
        list(
            (
                await s.ListEventHandlers(pb.ListEventHandlersRequest(), metadata=b.auth)
            ).event_handlers
        )
        == []
    )
    triggered = await s.TriggerEvent(pb.TriggerEventRequest(event_name="a.event"), metadata=b.auth)
    assert list(triggered.execution_ids) == []
    metrics = (await s.GetMetrics(pb.GetMetricsRequest(), metadata=b.auth)).metrics
    assert list(metrics.jobs_by_status) == [] and list(metrics.executions_by_status) == []
    assert metrics.queue_depth == 0
    # A sees its own.
    assert len((await s.ListJobs(pb.ListJobsRequest(), metadata=a.auth)).jobs) == 1
    theirs = await s.TriggerEvent(pb.TriggerEventRequest(event_name="a.event"), metadata=a.auth)
    assert len(theirs.execution_ids) == 1


async def test_batch_created_jobs_and_their_request_ids_belong_to_the_caller(live: Live) -> None:
    a = await make_tenant(live, "a")
    b = await make_tenant(live, "b")
    s = live.scheduler

    def batch(name: str) -> pb.BatchCreateJobsRequest:
        return pb.BatchCreateJobsRequest(
            requests=[
                pb.CreateJobRequest(job=cron_job(name=f"{name}-{i}"), request_id=f"req-{i}")
                for i in range(3)
            ]
        )

    a_jobs = (await s.BatchCreateJobs(batch("a"), metadata=a.auth)).jobs
    assert {j.platform_id for j in a_jobs} == {a.platform.id}
    assert list((await s.ListJobs(pb.ListJobsRequest(), metadata=b.auth)).jobs) == []
    # B's same request_ids are B's own: new jobs, never A's.
    b_jobs = (await s.BatchCreateJobs(batch("b"), metadata=b.auth)).jobs
    assert [j.name for j in b_jobs] == ["b-0", "b-1", "b-2"]
    assert {j.platform_id for j in b_jobs} == {b.platform.id}
    assert not {j.id for j in a_jobs} & {j.id for j in b_jobs}
    for job in a_jobs:
        await expect_code(
            s.GetJob(pb.GetJobRequest(id=job.id), metadata=b.auth), grpc.StatusCode.NOT_FOUND
        )
    listed = (await s.ListJobs(pb.ListJobsRequest(), metadata=a.auth)).jobs
    assert sorted(j.name for j in listed) == ["a-0", "a-1", "a-2"]
