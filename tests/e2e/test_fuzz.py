"""Random requests at every RPC: the server answers each with a deliberate status.

`UNKNOWN` (an exception that escaped) and `INTERNAL` (a bug the server caught)
must never come back, whatever the request holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from cronstream.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    scheduler_service_pb2,
    scheduler_service_pb2_grpc,
)
from hypothesis import HealthCheck, given, settings

from tests import databases
from tests.e2e.processes import ServerProcess, start_cronstream, wait_until_serving
from tests.messages import messages

ADMIN_KEY = "cs_admin_fuzz"
FORBIDDEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}


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
        assert "Traceback" not in process.log, process.log


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


def _methods(service: Any) -> list[tuple[str, type[Any]]]:
    return [
        (
            method.name,
            getattr(
                scheduler_service_pb2 if service is scheduler_service_pb2 else admin_service_pb2,
                method.input_type.name,
            ),
        )
        for method in service.DESCRIPTOR.services_by_name[_service_name(service)].methods
    ]


def _service_name(module: Any) -> str:
    return "SchedulerService" if module is scheduler_service_pb2 else "AdminService"


SCHEDULER = _methods(scheduler_service_pb2)
ADMIN = _methods(admin_service_pb2)


def _check(call: Any, request: Any, metadata: tuple[tuple[str, str], ...]) -> None:
    try:
        call(request, metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        code = error.code()  # type: ignore[attr-defined]
        assert code not in FORBIDDEN, f"{code}: {error.details()} for {request!r}"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("method", "request_type"), SCHEDULER, ids=[m for m, _ in SCHEDULER])
def test_scheduler_rpcs_never_fail_unexpectedly(
    channel: grpc.Channel, platform_key: str, method: str, request_type: type[Any]
) -> None:
    stub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
    auth = (("authorization", f"Bearer {platform_key}"),)

    @settings(
        max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(messages(request_type))
    def run(request: Any) -> None:
        _check(getattr(stub, method), request, auth)

    run()


@pytest.mark.parametrize(("method", "request_type"), ADMIN, ids=[m for m, _ in ADMIN])
def test_admin_rpcs_never_fail_unexpectedly(
    channel: grpc.Channel, method: str, request_type: type[Any]
) -> None:
    stub = admin_service_pb2_grpc.AdminServiceStub(channel)
    auth = (("authorization", f"Bearer {ADMIN_KEY}"),)

    @settings(
        max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(messages(request_type))
    def run(request: Any) -> None:
        _check(getattr(stub, method), request, auth)

    run()


def test_fuzz_covers_every_rpc() -> None:
    assert len(SCHEDULER) == 25 and len(ADMIN) == 7
