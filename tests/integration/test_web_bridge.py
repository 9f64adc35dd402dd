"""The dashboard's HTTP port on a live server, on SQLite and Postgres: gRPC-web
calls as a browser sends them (raw HTTP, frames encoded by tests/grpc_web.py),
reaching the real gRPC API with its keys, tenancy and error details."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest
from cronstream.v1 import job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.config import Settings
from cronstream_server.web.methods import READS
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from tests.conftest import ADMIN_KEY, Live, Tenant, make_tenant, serving_live
from tests.grpc_web import SCHEDULER, Reply, call, frame, headers, parse, read_frames
from tests.jobs import create, cron_job

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]
NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED.value[0]
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED.value[0]
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]


@pytest.fixture
async def web(database_url: str) -> AsyncIterator[Live]:
    settings = Settings(
        listen="127.0.0.1:0",
        database_url=database_url,
        admin_key=ADMIN_KEY,
        shutdown_grace_seconds=1.0,
        http_listen="127.0.0.1:0",
        trace_url="http://localhost:16686/trace/{trace_id}",
    )
    async with serving_live(settings) as server:
        yield server


@pytest.fixture
async def browser(web: Live) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{web.running.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield client


@pytest.fixture
async def acme(web: Live) -> Tenant:
    return await make_tenant(web, "acme")


async def test_a_unary_call_reaches_the_servicer_and_its_reply_comes_back(
    web: Live, browser: httpx.AsyncClient, acme: Tenant
) -> None:
    request = pb.CreateJobRequest(job=cron_job("30 2 * * *", "Europe/Berlin", name="nightly"))
    reply = await call(browser, SCHEDULER + "CreateJob", request, acme.secret)
    assert (reply.http_status, reply.code, len(reply.messages)) == (200, 0, 1)
    created = pb.CreateJobResponse.FromString(reply.messages[0]).job
    assert (created.name, created.cron.expression) == ("nightly", "30 2 * * *")
    # The very job, as the gRPC API sees it.
    got = await web.scheduler.GetJob(pb.GetJobRequest(id=created.id), metadata=acme.auth)
    assert got.job.name == "nightly" and got.job.cron.timezone == "Europe/Berlin"


async def test_bad_input_comes_back_with_its_field_violations(
    browser: httpx.AsyncClient, acme: Tenant
) -> None:
    request = pb.CreateJobRequest(job=cron_job("61 * * * *"))
    reply = await call(browser, SCHEDULER + "CreateJob", request, acme.secret)
    assert (reply.http_status, reply.code, reply.messages) == (200, INVALID_ARGUMENT, [])
    assert list(reply.violations()) == ["job.cron.expression"]
    assert "61" in reply.violations()["job.cron.expression"]


async def test_no_key_or_a_wrong_key_is_unauthenticated(
    browser: httpx.AsyncClient, acme: Tenant
) -> None:
    for key in (None, "cs_not_a_key", ADMIN_KEY):
        reply = await call(browser, SCHEDULER + "ListJobs", pb.ListJobsRequest(), key)
        assert (reply.code, reply.messages) == (UNAUTHENTICATED, []), key


async def test_one_platform_never_sees_another_s_job(
    web: Live, browser: httpx.AsyncClient, acme: Tenant
) -> None:
    other = await make_tenant(web, "globex")
    theirs = await create(web, other, cron_job(name="theirs"))
    ours = await create(web, acme, cron_job(name="ours"))
    got = await call(browser, SCHEDULER + "GetJob", pb.GetJobRequest(id=theirs.id), acme.secret)
    assert got.code == NOT_FOUND
    listed = await call(browser, SCHEDULER + "ListJobs", pb.ListJobsRequest(), acme.secret)
    jobs = pb.ListJobsResponse.FromString(listed.messages[0]).jobs
    assert [job.id for job in jobs] == [ours.id]
    paused = await call(
        browser, SCHEDULER + "PauseJob", pb.PauseJobRequest(id=theirs.id), acme.secret
    )
    assert paused.code == NOT_FOUND
    still = await web.scheduler.GetJob(pb.GetJobRequest(id=theirs.id), metadata=other.auth)
    assert still.job.status == job_pb2.JOB_STATUS_ACTIVE


async def test_watch_alerts_streams_frame_by_frame_until_the_port_closes(
    web: Live, browser: httpx.AsyncClient, acme: Tenant
) -> None:
    path = SCHEDULER + "WatchAlerts"
    sent = headers(acme.secret)
    async with browser.stream(
        "POST", path, content=frame(pb.WatchAlertsRequest()), headers=sent
    ) as response:
        assert response.status_code == 200
        reply, rest = Reply(200), b""
        chunks = response.aiter_bytes()
        while not reply.messages:  # the first response arrives while the stream stays open
            rest = read_frames(rest + await asyncio.wait_for(anext(chunks), 5), reply)
        first = pb.WatchAlertsResponse.FromString(reply.messages[0])
        assert not first.HasField("event") and first.cursor >= 0
        assert reply.trailers == {}
        await web.running.stop()  # the HTTP port closes first, ending the stream
        async for chunk in chunks:
            rest = read_frames(rest + chunk, reply)
    assert (reply.code, reply.message) == (UNAVAILABLE, "the server is shutting down")


async def test_unknown_methods_and_the_worker_stream_are_refused(
    browser: httpx.AsyncClient, acme: Tenant
) -> None:
    for path in (
        SCHEDULER + "DropAllTables",
        "/cronstream.v1.WorkerService/Connect",
        "/grpc.health.v1.Health/Check",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ):
        reply = await call(browser, path, pb.ListJobsRequest(), acme.secret)
        assert (reply.http_status, reply.code) == (404, UNIMPLEMENTED), path


async def test_a_request_larger_than_a_message_may_be_is_resource_exhausted(
    browser: httpx.AsyncClient, acme: Tenant
) -> None:
    job = cron_job(name="x" * (4 * 1024 * 1024 + 1))
    reply = await call(browser, SCHEDULER + "CreateJob", pb.CreateJobRequest(job=job), acme.secret)
    assert reply.code == RESOURCE_EXHAUSTED


async def test_what_is_not_one_grpc_web_message_is_invalid_argument(
    browser: httpx.AsyncClient, acme: Tenant
) -> None:
    request = frame(pb.ListJobsRequest(page_size=5))
    for body, extra in (
        (request + request, {}),  # two messages to a unary method
        (request[:-1], {}),  # cut short
        (b"\x01" + request[1:], {}),  # compressed
        (request, {"grpc-timeout": "soon"}),
    ):
        response = await browser.post(
            SCHEDULER + "ListJobs", content=body, headers=headers(acme.secret, **extra)
        )
        assert parse(response).code == INVALID_ARGUMENT, (body, extra)
    wrong_type = await browser.post(
        SCHEDULER + "ListJobs", content=request, headers={"content-type": "application/json"}
    )
    assert wrong_type.status_code == 415


async def test_grpc_timeout_becomes_the_call_s_deadline(
    browser: httpx.AsyncClient, acme: Tenant
) -> None:
    ok = await call(
        browser,
        SCHEDULER + "ListJobs",
        pb.ListJobsRequest(),
        acme.secret,
        **{"grpc-timeout": "10S"},
    )
    assert ok.code == 0
    # A watch never ends by itself: only the deadline ends it (a unary call
    # under a tiny deadline may still finish within gRPC's deadline resolution).
    late = await call(
        browser,
        SCHEDULER + "WatchAlerts",
        pb.WatchAlertsRequest(),
        acme.secret,
        **{"grpc-timeout": "300m"},
    )
    assert late.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]


async def test_config_json_names_the_trace_viewer(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/config.json")
    assert response.json() == {
        "traceUrl": "http://localhost:16686/trace/{trace_id}",
        "version": "0.1.0",
    }
    assert response.headers["cache-control"] == "no-store"


def _listening_tcp_ports(pid: str = "self") -> set[int]:
    """The TCP ports a process listens on (Linux: /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in (f"/proc/{pid}/net/tcp", f"/proc/{pid}/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _children() -> list[str]:
    tasks = Path("/proc/self/task").iterdir()
    return [pid for task in tasks for pid in (task / "children").read_text().split()]


async def test_the_bridge_reaches_grpc_by_a_unix_socket_not_a_tcp_port(web: Live) -> None:
    # The server listens on its gRPC port only; the HTTP port is served by its
    # child process, which reaches the gRPC server through the unix socket.
    assert _listening_tcp_ports() == {web.running.port}
    http_ports = [_listening_tcp_ports(pid) for pid in _children()]
    assert {web.running.http_port} in http_ports


def _read_requests(job_id: str) -> dict[str, Message]:
    """A request for each path the port's read server answers (web.methods.READS)."""
    missing = "00000000-0000-4000-8000-000000000000"
    return {
        "GetJob": pb.GetJobRequest(id=job_id),
        "ListJobs": pb.ListJobsRequest(text="nightly"),
        "ListExecutions": pb.ListExecutionsRequest(job_id=job_id),
        "GetExecution": pb.GetExecutionRequest(id=missing),
        "ListExecutionLogs": pb.ListExecutionLogsRequest(execution_id=missing),
        "GetEventHandler": pb.GetEventHandlerRequest(id=missing),
        "ListEventHandlers": pb.ListEventHandlersRequest(),
        "PreviewSchedule": pb.PreviewScheduleRequest(
            job_id=job_id, start_time=Timestamp(seconds=1_774_000_000), count=5
        ),
        "GetJobStats": pb.GetJobStatsRequest(job_id=job_id),
        "GetRecentRuns": pb.GetRecentRunsRequest(job_ids=[job_id]),
        "ListWorkers": pb.ListWorkersRequest(),
        "ListAlerts": pb.ListAlertsRequest(),
        "GetHealthDefaults": pb.GetHealthDefaultsRequest(),
        "ListRateLimits": pb.ListRateLimitsRequest(),
    }


async def test_each_read_the_port_answers_itself_is_what_the_grpc_api_answers(
    web: Live, browser: httpx.AsyncClient, acme: Tenant
) -> None:
    job = await create(web, acme, cron_job("30 2 * * *", "Europe/Berlin", name="nightly"))
    requests = _read_requests(job.id)
    assert {SCHEDULER + name for name in requests} == READS
    for name, request in requests.items():
        reply = await call(browser, SCHEDULER + name, request, acme.secret)
        method = getattr(web.scheduler, name)
        try:
            direct = await method(request, metadata=acme.auth)
        except grpc.aio.AioRpcError as error:
            assert (name, reply.code) == (name, error.code().value[0]), reply.message
            assert error.code() == grpc.StatusCode.NOT_FOUND, name
            continue
        assert (name, reply.code) == (name, 0), reply.message
        assert type(direct).FromString(reply.messages[0]) == direct, name


def _blocking_call(port: int, path: str, request: Message, key: str) -> tuple[int, float]:
    """A browser's call from a thread: its gRPC status and when it came back."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        response = client.post(path, content=frame(request), headers=headers(key))
    return parse(response).code, time.monotonic()


async def test_reads_are_answered_while_the_server_s_loop_is_busy_and_changes_wait_for_it(
    web: Live, acme: Tenant
) -> None:
    # The server runs in this test's event loop: blocking it stands for an
    # engine busy firing. A read, answered by the port's own read server,
    # comes back meanwhile; a change, which the server makes, only after.
    job = await create(web, acme, cron_job(name="nightly"))
    port = web.running.http_port
    assert port is not None
    read = pb.ListJobsRequest()
    change = pb.PauseJobRequest(id=job.id)
    with ThreadPoolExecutor(2) as threads:
        reading = threads.submit(_blocking_call, port, SCHEDULER + "ListJobs", read, acme.secret)
        changing = threads.submit(_blocking_call, port, SCHEDULER + "PauseJob", change, acme.secret)
        time.sleep(5.0)  # noqa: ASYNC251 - the point: the loop does nothing meanwhile
        unblocked = time.monotonic()
        read_code, read_at = await asyncio.wrap_future(reading)
        change_code, changed_at = await asyncio.wrap_future(changing)
    assert (read_code, change_code) == (0, 0)
    assert read_at < unblocked < changed_at
