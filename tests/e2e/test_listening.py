"""`cronstream serve` processes: a second one on an address in use exits with
a message (unless both share it on purpose), and SIGHUP re-reads the TLS
certificate without dropping what is open."""

from __future__ import annotations

import queue
import re
import signal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.certs import OWN_CONNECTION, Authority, channel_credentials
from tests.e2e.processes import ServerProcess, start_cronstream

IN_USE = (
    "cannot listen on {address}: the address is in use (another Cronstream?); "
    "set CRONSTREAM_LISTEN, or CRONSTREAM_REUSE_PORT=1 to share it on purpose"
)
SERVING = health_pb2.HealthCheckResponse.SERVING


def _start(cwd: Path, env: dict[str, str] | None = None, port: int | None = None) -> ServerProcess:
    cwd.mkdir(exist_ok=True)
    server = start_cronstream(["serve", "--migrate"], cwd, env, port)
    server.read_until("serving on")
    return server


def _port(server: ServerProcess) -> int:
    return int(server.address.rpartition(":")[2])


@pytest.mark.parametrize("command", [["serve", "--migrate"], ["dev"]])
def test_a_second_server_on_an_address_in_use_exits_with_a_message(
    tmp_path: Path, command: list[str]
) -> None:
    first = _start(tmp_path / "first")
    try:
        (tmp_path / "second").mkdir()
        second = start_cronstream(command, tmp_path / "second", port=_port(first))
        assert second.process.wait(30) == 1
        second.terminate()  # collects its output
        assert IN_USE.format(address=first.address) in second.log
        assert "Cronstream is serving" not in second.log  # `dev`'s banner
        assert _plain_check(first.address) == SERVING
    finally:
        assert first.terminate() == 0


def test_servers_share_an_address_when_each_asks_to(tmp_path: Path) -> None:
    sharing = {"CRONSTREAM_REUSE_PORT": "1"}
    first = _start(tmp_path / "first", sharing)
    second: ServerProcess | None = None
    try:
        assert _plain_check(first.address) == SERVING  # only the first listens yet
        second = _start(tmp_path / "second", sharing, port=_port(first))
        assert first.terminate() == 0
        assert _plain_check(second.address) == SERVING  # the second listens there too
    finally:
        first.terminate()
        if second is not None:
            assert second.terminate() == 0


def test_sighup_rereads_the_certificate_and_open_calls_carry_on(tmp_path: Path) -> None:
    old_ca, new_ca = Authority("old CA"), Authority("new CA")
    old, new = old_ca.server("old"), new_ca.server("new")
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    old.write(cert, key)
    env = {"CRONSTREAM_TLS_CERT": str(cert), "CRONSTREAM_TLS_KEY": str(key)}
    server = start_cronstream(["serve", "--migrate"], tmp_path, env)
    try:
        server.read_until(f"TLS: serving certificate sha256 {old.fingerprint}")
        server.read_until("serving on")
        before = grpc.secure_channel(server.address, channel_credentials(old_ca), OWN_CONNECTION)
        stream = ReflectionStream(before)
        assert "grpc.health.v1.Health" in stream.services()

        new.write(cert, key)
        server.process.send_signal(signal.SIGHUP)
        server.read_until(re.escape(f"SIGHUP: now serving certificate sha256 {new.fingerprint}"))

        assert _tls_check(server.address, new_ca) == SERVING
        with pytest.raises(grpc.RpcError) as raised:
            _tls_check(server.address, old_ca)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
        # The channel and the stream opened before the reload still answer.
        health = health_pb2_grpc.HealthStub(before)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == SERVING
        assert "grpc.health.v1.Health" in stream.services()
        stream.close()
        before.close()
    finally:
        assert server.terminate() == 0


class ReflectionStream:
    """One reflection stream (bidirectional), kept open across requests."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._requests: queue.Queue[reflection_pb2.ServerReflectionRequest | None] = queue.Queue()
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        self._responses = stub.ServerReflectionInfo(iter(self._requests.get, None), timeout=60)

    def services(self) -> list[str]:
        self._requests.put(reflection_pb2.ServerReflectionRequest(list_services=""))
        response = next(self._responses)
        return [service.name for service in response.list_services_response.service]

    def close(self) -> None:
        self._requests.put(None)


def _tls_check(address: str, trusted: Authority) -> int:
    """Health's Check over a new connection that trusts `trusted` alone."""
    with grpc.secure_channel(address, channel_credentials(trusted), OWN_CONNECTION) as channel:
        return _status(channel)


def _plain_check(address: str) -> int:
    """Health's Check: answered by the server's event loop, so after `serve`
    has set its signal handlers (which it does just after "serving on")."""
    with grpc.insecure_channel(address, OWN_CONNECTION) as channel:
        return _status(channel)


def _status(channel: grpc.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    status: int = stub.Check(health_pb2.HealthCheckRequest(), timeout=10).status
    return status
