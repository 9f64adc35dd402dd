"""Fixtures shared by every suite: databases on both engines and a live server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cronstream.v1 import (
    admin_service_pb2 as admin_pb,
)
from cronstream.v1 import (
    admin_service_pb2_grpc,
    scheduler_service_pb2_grpc,
    worker_service_pb2_grpc,
)
from cronstream_server.config import Settings
from cronstream_server.server import Running, start
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests import databases

ADMIN_KEY = "cs_admin_test_key_for_the_suite"

# One tracer provider for the whole run (OpenTelemetry allows setting it once),
# recording finished spans in memory for the tests that follow a trace.
SPANS = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(SPANS))
trace.set_tracer_provider(_provider)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    SPANS.clear()
    return SPANS


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return databases.build_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    dsn = databases.postgres_dsn()
    if dsn is not None:
        asyncio.run(databases.build_postgres_template(dsn))
    yield dsn
    if dsn is not None:
        asyncio.run(databases.drop_postgres_template(dsn))


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_template: str | None,
) -> AsyncIterator[str]:
    """A freshly migrated database; every test using it runs on both engines."""
    if request.param == "sqlite":
        yield databases.sqlite_copy(sqlite_template, tmp_path)
        return
    if postgres_template is None:
        pytest.skip("Postgres not configured (run `make test`)")
    async with databases.postgres_copy(postgres_template) as url:
        yield url


@dataclass
class Live:
    """A server running in the test's event loop, and a channel to it."""

    running: Running
    channel: grpc.aio.Channel
    database_url: str

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.running.port}"

    @property
    def admin(self) -> admin_service_pb2_grpc.AdminServiceStub:
        return admin_service_pb2_grpc.AdminServiceStub(self.channel)

    @property
    def scheduler(self) -> scheduler_service_pb2_grpc.SchedulerServiceStub:
        return scheduler_service_pb2_grpc.SchedulerServiceStub(self.channel)

    @property
    def workers(self) -> worker_service_pb2_grpc.WorkerServiceStub:
        return worker_service_pb2_grpc.WorkerServiceStub(self.channel)


def bearer(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


ADMIN = bearer(ADMIN_KEY)


@asynccontextmanager
async def serving_live(settings: Settings) -> AsyncIterator[Live]:
    """A server started in this event loop with `settings`, and a channel to it."""
    running = await start(settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield Live(running=running, channel=channel, database_url=settings.database_url)
    finally:
        await channel.close()
        await running.stop()


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    settings = Settings(
        listen="127.0.0.1:0",
        database_url=database_url,
        admin_key=ADMIN_KEY,
        shutdown_grace_seconds=1.0,
    )
    async with serving_live(settings) as server:
        yield server


@dataclass(frozen=True)
class Tenant:
    platform: admin_pb.Platform
    secret: str

    @property
    def auth(self) -> tuple[tuple[str, str]]:
        return bearer(self.secret)


async def make_tenant(live: Live, name: str) -> Tenant:
    platform = (
        await live.admin.CreatePlatform(
            admin_pb.CreatePlatformRequest(platform=admin_pb.Platform(name=name)), metadata=ADMIN
        )
    ).platform
    created = await live.admin.CreateApiKey(
        admin_pb.CreateApiKeyRequest(platform_id=platform.id, name=f"{name}-key"), metadata=ADMIN
    )
    return Tenant(platform=platform, secret=created.secret)


@pytest.fixture
async def tenant(live: Live) -> Tenant:
    return await make_tenant(live, "acme")
