"""Bytes that do not decode, over real gRPC: INVALID_ARGUMENT naming the field,
never UNKNOWN, nothing logged as an error; on the worker stream, a result
nested too deep ends its execution as a final failure and the stream lives on."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from cronstream.v1 import execution_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream.v1 import worker_service_pb2 as wpb
from cronstream_server.api.nesting import MAX_JSON_DEPTH, TOO_DEEP

from tests.conftest import ADMIN, Live, Tenant
from tests.integration.worker_harness import (
    RawWorker,
    make_job,
    run,
    short_lease_server,
    status_becomes,
)
from tests.nested import nested, with_value
from tests.status import expect_code, violations

SCHEDULER = "/cronstream.v1.SchedulerService/"
FAILED = execution_pb2.EXECUTION_STATUS_FAILED
SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    async with short_lease_server(database_url) as server:
        yield server


@pytest.fixture(autouse=True)
def no_error_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Bad input is the caller's problem: nothing at ERROR, no traceback."""
    caplog.set_level(logging.INFO)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]


async def _raw_call(
    live: Live, method: str, data: bytes, metadata: tuple[tuple[str, str], ...]
) -> bytes:
    """One unary call with the request as given: no serializer in the way."""
    call = live.channel.unary_unary(method)  # identity (de)serializers: bytes in, bytes out
    response: bytes = await call(data, metadata=metadata, timeout=10)
    return response


def _deep_batch() -> bytes:
    request = pb.BatchCreateJobsRequest()
    for index in range(5):
        with_value(request, f"requests[{index}].job.payload", nested(40 if index == 3 else 2))
    return request.SerializeToString()


@pytest.mark.parametrize(
    ("method", "data", "field", "description"),
    [
        (
            "CreateJob",
            bytes.fromhex("0affffffff0f"),
            "",
            "is not a valid cronstream.v1.CreateJobRequest",
        ),
        (
            "CreateJob",
            with_value(pb.CreateJobRequest(), "job.payload", nested(40)).SerializeToString(),
            "job.payload",
            TOO_DEEP,
        ),
        (
            "CreateJob",  # still decodes; refused where the payload is read
            with_value(
                pb.CreateJobRequest(), "job.payload", nested(MAX_JSON_DEPTH + 1)
            ).SerializeToString(),
            "job.payload",
            TOO_DEEP,
        ),
        ("BatchCreateJobs", _deep_batch(), "requests[3].job.payload", TOO_DEEP),
        (
            "TriggerEvent",
            with_value(pb.TriggerEventRequest(), "payload", nested(100)).SerializeToString(),
            "payload",
            TOO_DEEP,
        ),
        ("GetJob", b"\xff\xff\xff", "", "is not a valid cronstream.v1.GetJobRequest"),
    ],
    ids=["garbage", "deep", "one-past-the-limit", "deep-in-a-batch", "deep-event", "get-garbage"],
)
async def test_undecodable_requests_are_invalid_argument_naming_the_field(
    live: Live, tenant: Tenant, method: str, data: bytes, field: str, description: str
) -> None:
    error = await expect_code(
        _raw_call(live, SCHEDULER + method, data, tenant.auth), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert violations(error)[field] == description


async def test_admin_rpcs_refuse_garbage_too(live: Live) -> None:
    method = "/cronstream.v1.AdminService/CreatePlatform"
    error = await expect_code(
        _raw_call(live, method, b"\x0a\x05ab", ADMIN), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert violations(error) == {"": "is not a valid cronstream.v1.CreatePlatformRequest"}


async def test_the_caller_is_authenticated_before_the_request_is_judged(live: Live) -> None:
    call = _raw_call(live, SCHEDULER + "CreateJob", b"\xff", (("authorization", "Bearer x"),))
    await expect_code(call, grpc.StatusCode.UNAUTHENTICATED)


async def test_a_payload_at_the_limit_is_stored_and_read_back(live: Live, tenant: Tenant) -> None:
    created = await make_job(live, tenant)
    request = pb.UpdateJobRequest()
    request.job.id = created.id
    request.update_mask.paths.append("payload")
    with_value(request, "job.payload", nested(MAX_JSON_DEPTH))
    updated = await live.scheduler.UpdateJob(request, metadata=tenant.auth)
    assert updated.job.payload == nested(MAX_JSON_DEPTH)
    listed = await live.scheduler.ListJobs(pb.ListJobsRequest(), metadata=tenant.auth)
    assert listed.jobs[0].payload == nested(MAX_JSON_DEPTH)


# --- the worker stream ----------------------------------------------------------


def _deep_result(assignment: wpb.Assignment) -> wpb.ConnectRequest:
    request = wpb.ConnectRequest()
    request.result.execution_id = assignment.execution_id
    request.result.attempt = assignment.attempt
    request.result.success.result.CopyFrom(nested(40))
    return request


async def test_a_deep_result_fails_its_execution_and_the_stream_lives_on(
    live: Live, tenant: Tenant
) -> None:
    created = await make_job(live, tenant, max_retries=3)
    first = await run(live, tenant, created.id)
    worker = await RawWorker.connect(live, tenant)
    assignment = await worker.expect("assignment")
    await worker.call.write(_deep_result(assignment))
    assert (await worker.expect("result_ack")).execution_id == first.id
    failed = await status_becomes(live, tenant, first.id, FAILED)
    assert failed.error == f"result rejected: result.success.result {TOO_DEEP}"
    assert failed.retry_count == 0  # final: a retry would only produce it again

    second = await run(live, tenant, created.id)
    again = await worker.expect("assignment")
    assert again.execution_id == second.id
    await worker.succeed(again, fine=True)
    await worker.expect("result_ack")
    await status_becomes(live, tenant, second.id, SUCCESS)
    await worker.close()


async def test_a_deep_result_in_a_batch_fails_alone(live: Live, tenant: Tenant) -> None:
    created = await make_job(live, tenant)
    pending = [await run(live, tenant, created.id) for _ in range(3)]
    worker = await RawWorker.connect(live, tenant, slots=3, accepts_batches=True)
    assignments: list[wpb.Assignment] = []
    while len(assignments) < 3:
        message = await worker.next()
        assignments += (
            list(message.assignments.assignments)
            if message.WhichOneof("msg") == "assignments"
            else [message.assignment]
        )
    request = wpb.ConnectRequest()
    for index, assignment in enumerate(assignments):
        item = request.results.results.add(
            execution_id=assignment.execution_id, attempt=assignment.attempt
        )
        item.success.result.CopyFrom(nested(40 if index == 1 else 1))
    await worker.call.write(request)
    acked: set[str] = set()
    while len(acked) < 3:
        message = await worker.next()
        if message.WhichOneof("msg") == "result_ack":
            acked.add(message.result_ack.execution_id)
        else:
            acked |= {ack.execution_id for ack in message.result_acks.acks}
    assert acked == {p.id for p in pending}
    rejected = await status_becomes(live, tenant, assignments[1].execution_id, FAILED)
    assert rejected.error == f"result rejected: results.results[1].success.result {TOO_DEEP}"
    for index in (0, 2):
        await status_becomes(live, tenant, assignments[index].execution_id, SUCCESS)
    await worker.close()


async def test_other_undecodable_worker_messages_end_the_stream(live: Live, tenant: Tenant) -> None:
    async def requests() -> AsyncIterator[bytes]:
        hello = wpb.WorkerHello(worker_id="w", handler_names=["h"], slots=1)
        yield wpb.ConnectRequest(hello=hello).SerializeToString()
        yield bytes.fromhex("0affffffff0f")

    call = live.channel.stream_stream("/cronstream.v1.WorkerService/Connect")
    responses = call(requests(), metadata=tenant.auth)

    async def drain() -> None:
        async for _ in responses:
            pass

    error = await expect_code(drain(), grpc.StatusCode.INVALID_ARGUMENT)
    assert violations(error) == {"": "is not a valid cronstream.v1.ConnectRequest"}
