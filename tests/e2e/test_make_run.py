"""`make run`'s command (`cronstream dev`) as a user runs it: a real process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import grpc
import httpx
import pytest
from cronstream.v1 import admin_service_pb2 as admin_pb
from cronstream.v1 import admin_service_pb2_grpc, scheduler_service_pb2_grpc
from cronstream.v1 import scheduler_service_pb2 as scheduler_pb

from tests import databases
from tests.e2e.processes import (
    ServerProcess,
    start_cronstream,
    wait_until_listening,
    wait_until_serving,
)

KEYS = r"admin key\s+(?P<admin>\S+)"
API_KEY = r"API key\s+(?P<key>\S+)"


def _start_dev(cwd: Path, env: dict[str, str] | None = None) -> tuple[ServerProcess, str, str]:
    server = start_cronstream(["dev"], cwd, env)
    admin = server.read_until(KEYS)["admin"]
    key = server.read_until(API_KEY)["key"]
    server.read_until(r"grpcurl .*-H \"authorization: Bearer")
    wait_until_serving(server.address)
    return server, admin, key


def _platform_names(address: str, admin_key: str) -> list[str]:
    with grpc.insecure_channel(address) as channel:
        stub = admin_service_pb2_grpc.AdminServiceStub(channel)
        response = stub.ListPlatforms(
            admin_pb.ListPlatformsRequest(), metadata=(("authorization", f"Bearer {admin_key}"),)
        )
    return [p.name for p in response.platforms]


def _key_works(address: str, key: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        stub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        try:
            stub.GetMetrics(
                scheduler_pb.GetMetricsRequest(), metadata=(("authorization", f"Bearer {key}"),)
            )
        except grpc.RpcError as error:
            return error.code() != grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    return True


def test_dev_server_prints_keys_reuses_them_and_stops_on_sigterm(tmp_path: Path) -> None:
    server, admin, key = _start_dev(tmp_path, {"CRONSTREAM_ADMIN_KEY": ""})
    try:
        assert (tmp_path / ".cronstream" / "cronstream.db").exists()
        assert _platform_names(server.address, admin) == ["default"]
        assert _key_works(server.address, key)
    finally:
        assert server.terminate() == 0
    assert oct((tmp_path / ".cronstream" / "dev-keys.json").stat().st_mode & 0o777) == "0o600"

    again, admin2, key2 = _start_dev(tmp_path, {"CRONSTREAM_ADMIN_KEY": ""})
    try:
        assert (admin2, key2) == (admin, key)
        assert _platform_names(again.address, admin) == ["default"]
    finally:
        assert again.terminate() == 0


def test_dev_server_honours_admin_key_and_postgres_url(tmp_path: Path) -> None:
    dsn = databases.require_postgres()

    async def run() -> None:
        async with databases.empty_postgres_database(dsn) as url:
            server, admin, key = _start_dev(
                tmp_path, {"CRONSTREAM_ADMIN_KEY": "my-admin-key", "CRONSTREAM_DATABASE_URL": url}
            )
            try:
                assert admin == "my-admin-key"
                assert _platform_names(server.address, "my-admin-key") == ["default"]
                assert _key_works(server.address, key)
            finally:
                assert server.terminate() == 0

    asyncio.run(run())


@pytest.mark.parametrize("command", [["serve", "--migrate"]])
def test_serve_without_admin_key_refuses_admin_calls(tmp_path: Path, command: list[str]) -> None:
    server = start_cronstream(command, tmp_path, {"CRONSTREAM_ADMIN_KEY": ""})
    try:
        server.read_until("CRONSTREAM_ADMIN_KEY is not set")
        wait_until_serving(server.address)
        with grpc.insecure_channel(server.address) as channel:
            stub = admin_service_pb2_grpc.AdminServiceStub(channel)
            with pytest.raises(grpc.RpcError) as raised:
                stub.ListPlatforms(
                    admin_pb.ListPlatformsRequest(), metadata=(("authorization", "Bearer x"),)
                )
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    finally:
        assert server.terminate() == 0


def test_the_banner_s_lines_run_as_pasted(tmp_path: Path) -> None:
    # The "Try it" lines, pasted into a shell: the exports, then the grpcurl call
    # creating a job that fires within seconds.
    tools = Path(__file__).resolve().parents[2] / ".tools" / "bin"
    server = start_cronstream(["dev"], tmp_path, {"CRONSTREAM_ADMIN_KEY": ""})
    try:
        server.read_until(r"^Try it:")
        lines = [server.read_until(r"^  export ").string for _ in range(2)]
        command = [server.read_until(r"grpcurl ").string]
        while command[-1].rstrip().endswith("\\"):
            command.append(server.read_until(r".").string)
        wait_until_serving(server.address)
        script = "".join([*lines, *command])
        result = subprocess.run(
            ["bash", "-euc", script],
            env={**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        created = json.loads(result.stdout)["job"]
        assert (created["name"], created["interval"]["every"]) == ("hello", "5s")
    finally:
        assert server.terminate() == 0


def test_dev_server_prints_the_dashboard_s_address_and_serves_it(tmp_path: Path) -> None:
    # start_cronstream gives the dashboard a free port (CRONSTREAM_HTTP_LISTEN);
    # without one, `dev` takes 127.0.0.1:8080 (tests/unit/test_web_settings.py).
    server = start_cronstream(["dev"], tmp_path, {"CRONSTREAM_ADMIN_KEY": ""})
    try:
        url = server.read_until(r"^  dashboard\s+(?P<url>http://\S+/)$")["url"]
        assert url == f"http://{server.http_address}/"
        wait_until_listening(server.http_address)  # printed before it listens
        config = httpx.get(url + "config.json", timeout=10).json()
        assert config == {"traceUrl": None, "version": "0.1.0"}
    finally:
        assert server.terminate() == 0
