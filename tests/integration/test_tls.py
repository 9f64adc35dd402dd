"""TLS on a live server over loopback: client certificates checked at the
handshake (mTLS), and certificate files re-read while serving, new handshakes
getting the new certificate while connections already open carry on."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cronstream.v1 import admin_service_pb2 as admin_pb
from cronstream.v1 import worker_service_pb2 as wpb
from cronstream_server.config import Settings
from cronstream_server.server import Running, start
from cronstream_server.tls import TlsFilesError
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests import databases
from tests.certs import OWN_CONNECTION, Authority, Issued, channel_credentials, replace_file
from tests.conftest import ADMIN, ADMIN_KEY, Live, make_tenant
from tests.integration.worker_harness import RawWorker, make_job, run

TLS_LOG = "cronstream_server.tls"


@dataclass(frozen=True)
class TlsPaths:
    directory: Path

    @property
    def cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def key(self) -> Path:
        return self.directory / "server.key"

    @property
    def client_ca(self) -> Path:
        return self.directory / "client-ca.pem"


@dataclass
class TlsServer:
    running: Running
    files: TlsPaths
    database_url: str

    def channel(self, trusted: Authority, client: Issued | None = None) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(
            f"127.0.0.1:{self.running.port}",
            channel_credentials(trusted, client),
            options=OWN_CONNECTION,
        )

    def live(self, channel: grpc.aio.Channel) -> Live:
        return Live(running=self.running, channel=channel, database_url=self.database_url)


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    # TLS is the same on either engine: SQLite alone.
    return databases.sqlite_copy(sqlite_template, tmp_path)


@asynccontextmanager
async def tls_server(
    sqlite_url: str, directory: Path, serving: Issued, client_ca: Authority | None = None
) -> AsyncIterator[TlsServer]:
    files = TlsPaths(directory)
    serving.write(files.cert, files.key)
    if client_ca is not None:
        replace_file(files.client_ca, client_ca.cert_pem)
    settings = Settings(
        listen="127.0.0.1:0",
        database_url=sqlite_url,
        admin_key=ADMIN_KEY,
        shutdown_grace_seconds=1.0,
        tls_cert=files.cert,
        tls_key=files.key,
        tls_client_ca=files.client_ca if client_ca is not None else None,
    )
    running = await start(settings)
    try:
        yield TlsServer(running=running, files=files, database_url=sqlite_url)
    finally:
        await running.stop()


async def check(channel: grpc.aio.Channel) -> int:
    """A real call through the channel's connection: health's Check."""
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
    return response.status


async def refused(channel: grpc.aio.Channel) -> None:
    """The channel's handshake fails: its calls are UNAVAILABLE."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await check(channel)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    await channel.close()


async def test_a_client_certificate_from_the_client_ca_is_accepted_and_api_keys_still_apply(
    sqlite_url: str, tmp_path: Path
) -> None:
    servers, clients = Authority("server CA"), Authority("client CA")
    async with tls_server(sqlite_url, tmp_path, servers.server(), client_ca=clients) as server:
        async with server.channel(servers, clients.client()) as channel:
            assert await check(channel) == health_pb2.HealthCheckResponse.SERVING
            admin = server.live(channel).admin
            await admin.ListPlatforms(admin_pb.ListPlatformsRequest(), metadata=ADMIN)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await admin.ListPlatforms(admin_pb.ListPlatformsRequest())
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("presents", ["nothing", "a certificate from another CA"])
async def test_a_client_without_a_certificate_from_the_client_ca_is_refused_at_the_handshake(
    sqlite_url: str, tmp_path: Path, presents: str
) -> None:
    servers, clients, other = Authority("server CA"), Authority("client CA"), Authority("other")
    client = None if presents == "nothing" else other.client()
    async with tls_server(sqlite_url, tmp_path, servers.server(), client_ca=clients) as server:
        await refused(server.channel(servers, client))
        async with server.channel(servers, clients.client()) as channel:
            assert await check(channel) == health_pb2.HealthCheckResponse.SERVING


async def test_changed_files_reach_new_handshakes_while_open_streams_carry_on(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=TLS_LOG)
    old_ca, new_ca = Authority("old CA"), Authority("new CA")
    async with tls_server(sqlite_url, tmp_path, old_ca.server("old")) as server:
        async with server.channel(old_ca) as opened_before:
            live = server.live(opened_before)
            tenant = await make_tenant(live, "acme")
            worker = await RawWorker.connect(live, tenant)

            new = new_ca.server("new")
            new.write(server.files.cert, server.files.key)  # no signal: the next handshake looks

            async with server.channel(new_ca) as opened_after:
                assert await check(opened_after) == health_pb2.HealthCheckResponse.SERVING
            await refused(server.channel(old_ca))
            assert f"the files changed: now serving certificate sha256 {new.fingerprint}" in (
                caplog.text
            )
            # The channel and the worker stream opened before keep their connection.
            assert await check(opened_before) == health_pb2.HealthCheckResponse.SERVING
            job = await make_job(live, tenant)
            execution = await run(live, tenant, job.id)
            assignment: wpb.Assignment = await worker.expect("assignment")
            assert assignment.execution_id == execution.id
            await worker.succeed(assignment)
            assert (await worker.expect("result_ack")).execution_id == execution.id
            await worker.close()


async def test_a_file_cut_short_or_a_key_that_does_not_match_keeps_the_old_certificate(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=TLS_LOG)
    old_ca, new_ca = Authority("old CA"), Authority("new CA")
    old, new = old_ca.server("old"), new_ca.server("new")
    async with tls_server(sqlite_url, tmp_path, old) as server:
        server.files.cert.write_bytes(new.cert_pem[:200])  # mid-write, in place
        async with server.channel(old_ca) as channel:
            assert await check(channel) == health_pb2.HealthCheckResponse.SERVING
        assert f"still serving certificate sha256 {old.fingerprint}" in caplog.text

        caplog.clear()
        replace_file(server.files.cert, new.cert_pem)  # the new certificate, the old key
        async with server.channel(old_ca) as channel:
            assert await check(channel) == health_pb2.HealthCheckResponse.SERVING
        assert "KEY_VALUES_MISMATCH" in caplog.text
        assert f"still serving certificate sha256 {old.fingerprint}" in caplog.text
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        async with server.channel(old_ca) as channel:
            assert await check(channel) == health_pb2.HealthCheckResponse.SERVING
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == len(warnings)

        replace_file(server.files.key, new.key_pem)
        async with server.channel(new_ca) as channel:
            assert await check(channel) == health_pb2.HealthCheckResponse.SERVING


async def test_reload_rereads_the_files_now_and_the_client_ca_with_them(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=TLS_LOG)
    servers, old_clients, new_clients = Authority("server"), Authority("old"), Authority("new")
    async with tls_server(sqlite_url, tmp_path, servers.server(), old_clients) as server:
        certificates = server.running.certificates
        assert certificates is not None
        assert certificates.reload() is False  # what SIGHUP calls; nothing changed
        assert "SIGHUP: unchanged" in caplog.text

        replace_file(server.files.client_ca, old_clients.cert_pem + new_clients.cert_pem)
        assert certificates.reload() is True
        async with server.channel(servers, new_clients.client()) as channel:
            assert await check(channel) == health_pb2.HealthCheckResponse.SERVING

        replace_file(server.files.client_ca, new_clients.cert_pem)
        await refused(server.channel(servers, old_clients.client()))


async def test_tls_settings_or_files_that_do_not_load_stop_the_start(
    sqlite_url: str, tmp_path: Path
) -> None:
    cert, key, absent = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "absent"
    Authority("CA").server().write(cert, key)
    cases: list[tuple[dict[str, Path], str]] = [
        ({"tls_cert": cert}, "set both CRONSTREAM_TLS_CERT and CRONSTREAM_TLS_KEY"),
        ({"tls_client_ca": cert}, "CRONSTREAM_TLS_CLIENT_CA needs CRONSTREAM_TLS_CERT"),
        ({"tls_cert": key, "tls_key": key}, "cannot serve TLS: .* not a PEM certificate"),
        ({"tls_cert": cert, "tls_key": key, "tls_client_ca": key}, "not a PEM bundle"),
        ({"tls_cert": cert, "tls_key": absent}, "cannot serve TLS: cannot read"),
    ]
    for tls, message in cases:
        with pytest.raises(TlsFilesError, match=message):
            await start(Settings(listen="127.0.0.1:0", database_url=sqlite_url, **tls))
