"""A gRPC server that answers SchedulerService's reads from the database, and nothing else.

It runs inside the HTTP port's process (http_process.py), so that the dashboard's
pages are answered there: a Jobs page is a ListJobs and a GetRecentRuns of 1,000
runs, and forwarded to the server, each ran in the event loop that fires and
dispatches executions, between its timers (a burst of 1,000 page loads made W2's
firing p99 several times its value alone, docs/benchmarks.md). It is the same
servicer behind the same interceptors (authentication, the admin key acting for a
platform, tenancy, validation, errors, the call rate), on a small pool of its
own connections, listening on a unix socket in a private folder. The bridge
sends it only the paths of `web.methods.READS`; every change, and what only the
engine knows (health, metrics, webhooks, the alert watch), goes to the server.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc
from cronstream.v1 import scheduler_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from cronstream_server.api.auth import Authenticator
from cronstream_server.api.deps import SchedulerDeps
from cronstream_server.api.interceptor import AuthAndErrorsInterceptor
from cronstream_server.api.scheduler import SchedulerServicer
from cronstream_server.core.insight import ComponentHealth
from cronstream_server.core.quotas import CallRate
from cronstream_server.engine.event_batcher import EventBatcher
from cronstream_server.store.admin import SqlAdminStore
from cronstream_server.store.database import create_engine
from cronstream_server.store.event_delivery import SqlEventDeliveryStore
from cronstream_server.store.scheduler_stores import scheduler_stores
from cronstream_server.telemetry.tracing import grpc_server_interceptor

# The bridge sends one read at a time (web/bridge.py's READS_IN_FLIGHT); a
# second connection stands by for one the database dropped.
READ_CONNECTIONS = 2


@dataclass(frozen=True)
class ReadSettings:
    """What the reads need of the server's settings (its process passes them on)."""

    database_url: str
    admin_key: str | None
    max_message_bytes: int
    max_payload_bytes: int
    calls_per_second: float


@dataclass
class ReadServer:
    server: grpc.aio.Server
    engine: AsyncEngine
    folder: Path
    address: str  # "unix:..." for a channel

    async def close(self) -> None:
        await self.server.stop(None)
        await self.engine.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)


class _AnsweredByTheServer:
    """GetHealth's probes: the engine is in the server's process, which answers
    GetHealth (it is not in READS); reaching this is a routing mistake."""

    async def signals(self) -> ComponentHealth:
        raise RuntimeError("GetHealth is answered by the server's process, not the HTTP port's")

    async def engine(self) -> ComponentHealth:
        raise RuntimeError("GetHealth is answered by the server's process, not the HTTP port's")


def _no_local_workers(platform_id: str) -> int:
    raise RuntimeError("GetMetrics is answered by the server's process, not the HTTP port's")


def _deps(engine: AsyncEngine, settings: ReadSettings) -> SchedulerDeps:
    return SchedulerDeps(
        **scheduler_stores(engine),
        health=_AnsweredByTheServer(),
        # Never started: TriggerEvent, its only user, is not a read.
        event_batcher=EventBatcher(SqlEventDeliveryStore(engine)),
        workers_connected=_no_local_workers,
        max_payload_bytes=settings.max_payload_bytes,
        max_message_bytes=settings.max_message_bytes,
    )


async def start_read_server(settings: ReadSettings) -> ReadServer:
    engine = create_engine(settings.database_url, pool_size=READ_CONNECTIONS, reads_only=True)
    authenticator = Authenticator(SqlAdminStore(engine), settings.admin_key)
    sizes = ("grpc.max_receive_message_length", "grpc.max_send_message_length")
    server = grpc.aio.server(
        interceptors=[
            grpc_server_interceptor(),
            AuthAndErrorsInterceptor(authenticator, CallRate(settings.calls_per_second)),
        ],
        options=[(size, settings.max_message_bytes) for size in sizes],
    )
    scheduler_service_pb2_grpc.add_SchedulerServiceServicer_to_server(
        SchedulerServicer(_deps(engine, settings)), server
    )
    folder = Path(tempfile.mkdtemp(prefix="cronstream-reads-"))  # 0700
    address = f"unix:{folder}/grpc.sock"
    try:
        server.add_insecure_port(address)
        await server.start()
    except BaseException:
        await engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return ReadServer(server, engine, folder, address)
