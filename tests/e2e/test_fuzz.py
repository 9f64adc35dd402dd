"""Hostile bytes at every RPC: the server answers each with a deliberate status.

Every RPC of every service gets request bytes of four kinds (see `tests.wire`):
encodings of random messages, random bytes, mutated encodings, and messages
holding a JSON value nested near and far past the limit; the worker stream
gets a hello, then a few such messages. `UNKNOWN` (an exception that escaped)
and `INTERNAL` (a bug the server caught) must never come back; afterwards the
server must still be SERVING, and its log must hold no traceback and no error.

`CRONSTREAM_FUZZ_EXAMPLES` sets the examples per RPC (default 60: about 4,000
calls on the two databases, under a minute); see docs/testing.md for a longer run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from cronstream.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    scheduler_service_pb2,
    worker_service_pb2,
)
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings

from tests import databases
from tests.e2e.processes import ServerProcess, start_cronstream, wait_until_serving
from tests.wire import request_bytes, worker_streams

ADMIN_KEY = "cs_admin_fuzz"
FORBIDDEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
EXAMPLES = int(os.environ.get("CRONSTREAM_FUZZ_EXAMPLES", "60"))
CONNECT = "/cronstream.v1.WorkerService/Connect"
SERVICE_FILES = (admin_service_pb2, scheduler_service_pb2, worker_service_pb2)
# The slowest RPCs take ~20 ms an example: room for a longer run.
pytestmark = pytest.mark.timeout(max(120, EXAMPLES // 5))


def _fuzz_settings() -> Any:
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


def _rpcs(server_streaming: bool) -> list[tuple[str, type[Any]]]:
    """(path, request class) of every RPC of every service that takes one
    request and answers one message (or, `server_streaming`, a stream)."""
    return [
        (f"/{service.full_name}/{method.name}", message_factory.GetMessageClass(method.input_type))
        for module in SERVICE_FILES
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
        if not method.client_streaming and method.server_streaming == server_streaming
    ]


UNARY = _rpcs(server_streaming=False)
SERVER_STREAMING = _rpcs(server_streaming=True)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield databases.sqlite_url(tmp_path_factory.mktemp("fuzz") / "fuzz.db")
        return
    dsn = databases.require_postgres()
    with databases.sync_empty_postgres_database(dsn) as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[ServerProcess]:
    cwd = tmp_path_factory.mktemp("fuzz")
    process = start_cronstream(
        ["serve", "--migrate"],
        cwd,
        {"CRONSTREAM_ADMIN_KEY": ADMIN_KEY, "CRONSTREAM_DATABASE_URL": database_url},
    )
    try:
        wait_until_serving(process.address)
        yield process
    finally:
        process.terminate()
        # Bad input is the caller's problem, never the server's: nothing logged as one.
        assert "Traceback" not in process.log, process.log
        assert " ERROR " not in process.log, process.log


@pytest.fixture(scope="module")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.address) as channel:
        yield channel


@pytest.fixture(scope="module")
def platform_key(channel: grpc.Channel) -> str:
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    auth = (("authorization", f"Bearer {ADMIN_KEY}"),)
    platform = admin.CreatePlatform(
        admin_service_pb2.CreatePlatformRequest(platform=admin_service_pb2.Platform(name="fuzz")),
        metadata=auth,
    ).platform
    secret: str = admin.CreateApiKey(
        admin_service_pb2.CreateApiKeyRequest(platform_id=platform.id, name="fuzz"), metadata=auth
    ).secret
    return secret


def _auth(path: str, platform_key: str) -> tuple[tuple[str, str], ...]:
    key = ADMIN_KEY if path.startswith("/cronstream.v1.AdminService/") else platform_key
    return (("authorization", f"Bearer {key}"),)


def _refuse_unexpected(error: grpc.RpcError, sent: Any) -> None:
    code = error.code()  # type: ignore[attr-defined]
    assert code not in FORBIDDEN, f"{code}: {error.details()} for {sent!r}"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("path", "request_type"), UNARY, ids=[p.strip("/") for p, _ in UNARY])
def test_unary_rpcs_never_fail_unexpectedly(
    channel: grpc.Channel, platform_key: str, path: str, request_type: type[Any]
) -> None:
    call = channel.unary_unary(path)  # no serializers: the bytes go out as drawn
    auth = _auth(path, platform_key)

    @_fuzz_settings()
    @given(request_bytes(request_type))
    def run(data: bytes) -> None:
        try:
            call(data, metadata=auth, timeout=10)
        except grpc.RpcError as error:
            _refuse_unexpected(error, data.hex())

    run()


@pytest.mark.parametrize(
    ("path", "request_type"), SERVER_STREAMING, ids=[p.strip("/") for p, _ in SERVER_STREAMING]
)
def test_server_streams_never_fail_unexpectedly(
    channel: grpc.Channel, platform_key: str, path: str, request_type: type[Any]
) -> None:
    """A stream that accepts the request stays open (WatchAlerts waits for
    events): the short deadline ends it, which is not the server's doing."""
    call = channel.unary_stream(path)
    auth = _auth(path, platform_key)

    @_fuzz_settings()
    @given(request_bytes(request_type))
    def run(data: bytes) -> None:
        try:
            for _ in call(data, metadata=auth, timeout=0.3):
                pass
        except grpc.RpcError as error:
            if error.code() is not grpc.StatusCode.DEADLINE_EXCEEDED:  # type: ignore[attr-defined]
                _refuse_unexpected(error, data.hex())

    run()


def test_the_worker_stream_never_fails_unexpectedly(
    channel: grpc.Channel, platform_key: str
) -> None:
    connect = channel.stream_stream(CONNECT)
    auth = _auth(CONNECT, platform_key)

    @_fuzz_settings()
    @given(worker_streams())
    def run(sent: list[bytes]) -> None:
        try:
            for _ in connect(iter(sent), metadata=auth, timeout=10):
                pass
        except grpc.RpcError as error:
            _refuse_unexpected(error, [data.hex() for data in sent])

    run()


def test_the_server_still_serves_after_the_fuzz(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    answer = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_fuzz_covers_every_rpc() -> None:
    every = {
        f"/{service.full_name}/{method.name}"
        for module in SERVICE_FILES
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    fuzzed = {path for path, _ in UNARY + SERVER_STREAMING} | {CONNECT}
    assert fuzzed == every
    assert {path.split("/")[1] for path in every} == {
        "cronstream.v1.AdminService",
        "cronstream.v1.SchedulerService",
        "cronstream.v1.WorkerService",
    }
