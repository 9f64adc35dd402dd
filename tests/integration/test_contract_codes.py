"""The contract's comments are tested: every status code a proto comment lists
is produced by a call that must produce it, and no case answers a code its
RPC does not list.

The codes come from the comments themselves (tests/proto_comments.py reads them):
each RPC's `Errors:` line, and each service's `Errors of every call:` line.
The cases are one table (tests/integration/contract_cases.py): a new RPC, or
a code newly listed, fails here until it has its case; a case whose code is
no longer listed fails too. Only codes that need a fault are not made.

docs/api.md must agree: its status table names the listed codes, and its
job states table (which FAILED_PRECONDITION of PauseJob, ResumeJob, CancelJob,
UpdateJob and RunJob stands for) is checked cell by cell against the server.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from cronstream.v1 import admin_service_pb2, job_pb2, scheduler_service_pb2, worker_service_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from google.protobuf.descriptor import ServiceDescriptor

from tests.conftest import ADMIN, Live, Tenant
from tests.integration.contract_cases import (
    EVERY_CALL,
    FAULTS,
    OWN,
    Ctx,
    mask,
    path,
    raw_code,
    stream_code,
)
from tests.integration.worker_harness import RawWorker, eventually, make_job
from tests.jobs import cron_job
from tests.proto_comments import Service, read_contract, status_table_codes, transition_table
from tests.status import code_of

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
CONTRACT = read_contract()
SERVED: dict[str, ServiceDescriptor] = {
    service.name: service
    for module in (admin_service_pb2, scheduler_service_pb2, worker_service_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
}


def rpcs() -> list[tuple[Service, str]]:
    return [(service, rpc) for service in CONTRACT.values() for rpc in service.rpcs]


def test_the_comments_name_every_rpc_the_server_serves() -> None:
    assert CONTRACT.keys() == SERVED.keys()
    for name, service in CONTRACT.items():
        assert service.rpcs.keys() == {m.name for m in SERVED[name].methods}, name


def test_every_listed_code_has_a_case_and_every_case_a_listed_code() -> None:
    listed = {
        (f"{service.name}/{rpc}", code)
        for service, rpc in rpcs()
        for code in service.rpcs[rpc] - FAULTS
    }
    assert not listed - OWN.keys(), f"listed codes without a case: {sorted(listed - OWN.keys())}"
    assert not OWN.keys() - listed, (
        f"cases of codes no comment lists: {sorted(OWN.keys() - listed)}"
    )
    every_call = {(s.name, code) for s in CONTRACT.values() for code in s.every_call - FAULTS}
    missing, stale = every_call - EVERY_CALL.keys(), EVERY_CALL.keys() - every_call
    assert not missing, f"every-call codes without a case: {sorted(missing)}"
    assert not stale, f"cases of every-call codes no comment lists: {sorted(stale)}"
    for service, rpc in rpcs():
        has_case = any(key[0] == f"{service.name}/{rpc}" for key in OWN) or any(
            key[0] == service.name for key in EVERY_CALL
        )
        assert has_case, f"{service.name}/{rpc} has no case"
    # Made for any RPC that takes one request: a server stream ends in each of
    # those cases before its first message, as a unary call does.
    for name in {service for service, _ in EVERY_CALL}:
        assert not any(m.client_streaming for m in SERVED[name].methods)


def test_the_api_reference_names_the_listed_codes() -> None:
    listed = {code for service, rpc in rpcs() for code in service.listed(rpc)}
    assert status_table_codes(API_DOC.read_text()) == listed


async def test_every_listed_code_comes_back(live: Live, tenant: Tenant) -> None:
    """Each case in turn; every mismatch is reported at the end."""
    wrong: list[str] = []
    async with AsyncExitStack() as stack:
        ctx = Ctx(live, tenant, stack)
        for (rpc, code), case in OWN.items():
            service, name = rpc.split("/")
            got = await _run(case(ctx))
            _judge(wrong, rpc, case.__name__, code, got, CONTRACT[service].listed(name))
        for (service_name, code), every in EVERY_CALL.items():
            served = CONTRACT[service_name]
            for name in served.rpcs:
                rpc = f"{service_name}/{name}"
                got = await _run(every(ctx, path(rpc)))
                _judge(wrong, rpc, every.__name__, code, got, served.listed(name))
    assert not wrong, "\n".join(wrong)


async def test_an_empty_request_answers_only_listed_codes(live: Live, tenant: Tenant) -> None:
    """The reverse, cheaply: every RPC called with its empty request answers
    OK or one of the codes its comments list."""
    unlisted: list[str] = []
    for service, name in rpcs():
        rpc = f"{service.name}/{name}"
        key = ADMIN if service.name == "AdminService" else tenant.auth
        if service.name == "WorkerService":
            got = await stream_code(live.channel.stream_stream(path(rpc))(metadata=key))
        elif SERVED[service.name].methods_by_name[name].server_streaming:
            got = await open_stream_code(live, path(rpc), key)
        else:
            got = await raw_code(live, path(rpc), b"", key)
        if got is not grpc.StatusCode.OK and got.name not in service.listed(name):
            unlisted.append(f"{rpc}: {got.name}")
    assert not unlisted, "\n".join(unlisted)


async def open_stream_code(live: Live, method: str, key: Any) -> grpc.StatusCode:
    """A server stream's code for an empty request: OK while it stays open
    (WatchAlerts waits for events), else the code it ended with."""
    stream = live.channel.unary_stream(method)(b"", metadata=key, timeout=0.5)
    try:
        async for _ in stream:
            pass
    except grpc.aio.AioRpcError as error:
        return (
            grpc.StatusCode.OK
            if error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            else error.code()
        )
    return grpc.StatusCode.OK


async def _run(call: Awaitable[grpc.StatusCode]) -> grpc.StatusCode | str:
    """The case's code, or what went wrong on its way there."""
    try:
        return await call
    except (AssertionError, grpc.aio.AioRpcError) as error:
        return f"{type(error).__name__}: {error}"


def _judge(
    wrong: list[str],
    rpc: str,
    case: str,
    code: str,
    got: grpc.StatusCode | str,
    listed: frozenset[str],
) -> None:
    if isinstance(got, str):
        wrong.append(f"{rpc} {code} ({case}): {got}")
    elif got.name != code:
        unlisted = got is not grpc.StatusCode.OK and got.name not in listed
        note = ", which its comments do not list" if unlisted else ""
        wrong.append(f"{rpc} {code} ({case}): got {got.name}{note}")


# --- the job states table of docs/api.md, which the comments of these calls state ---

JobCall = Callable[[Any, str, Any], Awaitable[Any]]  # (stub, job id, metadata)
JOB_CALLS: dict[str, JobCall] = {
    "PauseJob": lambda s, i, m: s.PauseJob(pb.PauseJobRequest(id=i), metadata=m),
    "ResumeJob": lambda s, i, m: s.ResumeJob(pb.ResumeJobRequest(id=i), metadata=m),
    "CancelJob": lambda s, i, m: s.CancelJob(pb.CancelJobRequest(id=i), metadata=m),
    "UpdateJob": lambda s, i, m: s.UpdateJob(
        pb.UpdateJobRequest(
            job=job_pb2.Job(id=i, cron=job_pb2.CronTrigger(expression="0 3 * * *")),
            update_mask=mask("cron"),
        ),
        metadata=m,
    ),
    "RunJob": lambda s, i, m: s.RunJob(pb.RunJobRequest(id=i), metadata=m),
}


async def test_the_job_states_table_is_what_the_calls_do(live: Live, tenant: Tenant) -> None:
    """Each cell of the table: a job in the row's state, the column's call,
    and the code and state that follow (`FAILED_PRECONDITION`, `→ STATE`,
    or OK with the state unchanged)."""
    table = transition_table(API_DOC.read_text(), "## Job states")
    states = sorted({state for state, _ in table})
    assert {call for _, call in table} == {*JOB_CALLS, "engine"}
    jobs = {state: await _jobs_in(live, tenant, state, len(JOB_CALLS)) for state in states}
    wrong: list[str] = []
    for state in states:
        for job_id, (call, make) in zip(jobs[state], JOB_CALLS.items(), strict=True):
            expected = (
                "FAILED_PRECONDITION" if "FAILED_PRECONDITION" in table[state, call] else "OK"
            )
            arrow = re.search(r"→ `(\w+)`", table[state, call])
            after = arrow[1] if arrow and expected == "OK" else state
            got = await code_of(make(live.scheduler, job_id, tenant.auth))
            now = await _status(live, tenant, job_id)
            if (got.name, now) != (expected, after):
                wrong.append(f"{state} {call}: {got.name} and {now}, not {expected} and {after}")
    assert not wrong, "\n".join(wrong)


async def _jobs_in(live: Live, tenant: Tenant, state: str, count: int) -> list[str]:
    """`count` jobs in `state`, made by the calls or by the engine."""
    if state in ("COMPLETED", "FAILED"):
        return await _fired_jobs(live, tenant, state, count)
    s, auth = live.scheduler, tenant.auth
    ids: list[str] = []
    for _ in range(count):
        job_id = (await s.CreateJob(pb.CreateJobRequest(job=cron_job()), metadata=auth)).job.id
        if state == "PAUSED":
            await s.PauseJob(pb.PauseJobRequest(id=job_id), metadata=auth)
        elif state == "CANCELLED":
            await s.CancelJob(pb.CancelJobRequest(id=job_id), metadata=auth)
        else:
            assert state == "ACTIVE", f"no way to make a job {state}"
        ids.append(job_id)
    return ids


async def _fired_jobs(live: Live, tenant: Tenant, state: str, count: int) -> list[str]:
    """One-time jobs the engine fired (COMPLETED), whose executions then
    failed for good (FAILED)."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    handler = f"{state.lower()}-handler"  # a worker fails only the FAILED ones
    ids = [(await make_job(live, tenant, handler, past, max_retries=0)).id for _ in range(count)]
    worker = None
    if state == "FAILED":
        worker = await RawWorker.connect(live, tenant, handlers=[handler], slots=count)
        failed = 0
        while failed < count:  # assignments, with acks of the failures among them
            message = await worker.next()
            if message.WhichOneof("msg") == "assignment":
                await worker.fail(message.assignment, retryable=False)
                failed += 1

    async def there() -> bool:
        return all([await _status(live, tenant, job_id) == state for job_id in ids])

    await eventually(there)
    if worker is not None:
        await worker.close()
    return ids


async def _status(live: Live, tenant: Tenant, job_id: str) -> str:
    job = (await live.scheduler.GetJob(pb.GetJobRequest(id=job_id), metadata=tenant.auth)).job
    return job_pb2.JobStatus.Name(job.status).removeprefix("JOB_STATUS_")
