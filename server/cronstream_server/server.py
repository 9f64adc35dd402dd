"""The running server: one object that starts its parts and stops them in order.

Start order: TLS files (read and checked), database engine, stores, gate, ticker,
retention, webhook delivery, worker hub (dispatcher, reaper, session reports), gRPC server
(with health and reflection; it refuses an address in use, see listen.py). When
CRONSTREAM_HTTP_LISTEN is set, the gRPC server also listens on a unix socket
in a private folder, and the HTTP port (the dashboard and its gRPC-web bridge,
web/) starts last, in a process of its own (http_process.py) that answers the
dashboard's reads itself (read_server.py) and forwards the rest to that socket.
Stop order (SIGTERM), the reverse, as `AsyncExitStack` unwinds:
  0. the HTTP port's process is sent SIGTERM: its open streams end
     (UNAVAILABLE), its calls in flight get a second (web/app.py);
  1. health turns NOT_SERVING, so load balancers stop sending new calls;
  2. worker sessions drain: each is sent `drain`, gets no new assignment,
     and has the grace period to send its results; what is still running
     then goes back to pending and the streams end (UNAVAILABLE);
  3. the gRPC server stops accepting calls and gives running ones up to
     FINAL_GRACE_SECONDS more (they have been running through step 2, so
     a SIGTERM'd server is gone within the grace period plus that);
  4. the worker hub stops its dispatcher, reaper and writers, and deletes
     its sessions from the cluster's registry (ListWorkers);
  5. the event batcher, the webhook loop, the retention loop, the ticker
     and the gate stop (a retention batch or a gate pass in flight is rolled
     back; webhook attempts in flight are cancelled, and their leases bring
     them back);
  6. the database engine closes its connections (and the unix socket's
     folder is removed).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import grpc
from cronstream.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    scheduler_service_pb2,
    scheduler_service_pb2_grpc,
    worker_service_pb2,
)
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.ext.asyncio import AsyncEngine

from cronstream_server import heap
from cronstream_server.api.admin import AdminServicer
from cronstream_server.api.auth import Authenticator
from cronstream_server.api.deps import SchedulerDeps, utc_now
from cronstream_server.api.interceptor import AuthAndErrorsInterceptor
from cronstream_server.api.scheduler import SchedulerServicer
from cronstream_server.api.worker import WorkerServicer
from cronstream_server.api.worker_wire import add_worker_service
from cronstream_server.config import Settings
from cronstream_server.core.insight import ComponentHealth
from cronstream_server.core.ports import Signals
from cronstream_server.core.quotas import CallRate
from cronstream_server.core.webhook_delivery import RetryPolicy
from cronstream_server.engine.alert_watch import AlertWatch
from cronstream_server.engine.event_batcher import EventBatcher
from cronstream_server.engine.gate import Gate
from cronstream_server.engine.gauges import GaugeRefresher
from cronstream_server.engine.health import DatabaseWatch, EngineHealth
from cronstream_server.engine.retention import Retention, RetentionSettings
from cronstream_server.engine.session_reports import SessionReporter, replica_name
from cronstream_server.engine.ticker import Ticker, TickerSettings
from cronstream_server.engine.webhook_http import HttpSender, TargetGuard
from cronstream_server.engine.webhooks import WebhookDispatcher, WebhookSettings
from cronstream_server.engine.workers import StreamSettings, WorkerHub
from cronstream_server.http_process import read_environment
from cronstream_server.listen import bind, socket_options
from cronstream_server.service.backfill import BackfillUseCases
from cronstream_server.service.job_quota import JobQuota
from cronstream_server.service.webhooks import WebhookUseCases
from cronstream_server.signals import LocalSignals, RedisSignals
from cronstream_server.store.admin import SqlAdminStore
from cronstream_server.store.alerts import SqlAlertStore
from cronstream_server.store.backfill import SqlBackfillStore
from cronstream_server.store.cluster_figures import ClusterReporter
from cronstream_server.store.database import create_engine, pool_figures
from cronstream_server.store.dispatch import SqlDispatchStore
from cronstream_server.store.event_delivery import SqlEventDeliveryStore
from cronstream_server.store.gate import SqlGateStore
from cronstream_server.store.insight import SqlInsightStore
from cronstream_server.store.retention import SqlRetentionStore
from cronstream_server.store.scheduler_stores import scheduler_stores
from cronstream_server.store.ticker import SqlTickerStore
from cronstream_server.store.webhook_delivery import SqlWebhookDeliveryStore
from cronstream_server.store.webhooks import SqlWebhookStore
from cronstream_server.store.worker_registry import SqlWorkerRegistry
from cronstream_server.telemetry.metrics import Metrics
from cronstream_server.telemetry.metrics_grpc import MetricsInterceptor
from cronstream_server.telemetry.metrics_http import serve_metrics
from cronstream_server.telemetry.tracing import configure_tracing, grpc_server_interceptor
from cronstream_server.tls import CertificateReloader, reloader_for
from cronstream_server.web.process import PortSettings, start_web_process

log = logging.getLogger(__name__)

# What unary calls still get once the workers' drain (step 2) has used the grace period.
FINAL_GRACE_SECONDS = 2.0
# Past a minute, slots fired ahead would pile up as pending rows for no gain.
MAX_FIRE_AHEAD_SECONDS = 60.0

SERVICE_NAMES = (
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    scheduler_service_pb2.DESCRIPTOR.services_by_name["SchedulerService"].full_name,
    worker_service_pb2.DESCRIPTOR.services_by_name["WorkerService"].full_name,
)


@dataclass
class Running:
    """A started server: its bound port and what stops it."""

    port: int
    engine: AsyncEngine
    stack: AsyncExitStack
    # What SIGHUP re-reads; None when serving plaintext.
    certificates: CertificateReloader | None = None
    metrics_port: int | None = None  # where /metrics is served, when it is
    http_port: int | None = None  # where the dashboard is served, when it is

    async def stop(self) -> None:
        await self.stack.aclose()


async def start(settings: Settings) -> Running:
    # TLS files first: a bad one stops the start before anything else has begun.
    certificates = reloader_for(settings)
    stack = AsyncExitStack()
    try:
        engine = create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        metrics = Metrics(enabled=settings.metrics_listen is not None)
        signals = await _start_signals(settings, stack)
        gate = _start_gate(engine, signals, stack, metrics)
        ticker = await _start_ticker(engine, signals, settings, stack, metrics)
        _start_retention(engine, settings, stack)
        webhooks = _start_webhooks(engine, settings, stack)
        _start_alert_watch(engine, stack)
        event_batcher = EventBatcher(SqlEventDeliveryStore(engine))
        await event_batcher.start()
        stack.push_async_callback(event_batcher.stop)
        tracing = configure_tracing()
        if tracing is not None:
            stack.callback(tracing.shutdown)
        admin_store = SqlAdminStore(engine)
        authenticator = Authenticator(admin_store, settings.admin_key)
        server = grpc.aio.server(
            # The OpenTelemetry interceptor first: authentication and errors
            # happen inside the call's span, which continues the caller's trace.
            interceptors=[
                MetricsInterceptor(metrics),  # outermost: it sees every call's code
                grpc_server_interceptor(),
                AuthAndErrorsInterceptor(authenticator, CallRate(settings.quotas.calls_per_second)),
            ],
            options=_server_options(settings),
        )
        workers = await _start_workers(
            engine, signals, settings, server, stack, admin_store, metrics, gate
        )
        admin_service_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminServicer(admin_store, authenticator, settings.max_message_bytes, signals), server
        )
        deps = _scheduler_deps(engine, settings, signals, ticker, event_batcher, workers, metrics)
        deps.webhooks = webhooks
        deps.backfills = BackfillUseCases(
            SqlBackfillStore(engine), deps.jobs, utc_now, settings.backfill_rate
        )
        scheduler_service_pb2_grpc.add_SchedulerServiceServicer_to_server(
            SchedulerServicer(deps), server
        )
        watch = SqlInsightStore(engine).database_health
        bridge_socket = _bridge_socket(server, settings, stack)
        port = await _serve(server, settings, workers, watch, stack, certificates)
        metrics_port = _serve_metrics(metrics, engine, workers, signals, settings, stack)
        http_port = await _serve_http(settings, bridge_socket, stack)
        # Said once every port serves (the dashboard's process takes a moment).
        log.info("serving on %s", settings.listen)
        return Running(port, engine, stack, certificates, metrics_port, http_port)
    except BaseException:
        await stack.aclose()
        raise


async def _start_ticker(
    engine: AsyncEngine,
    signals: Signals,
    settings: Settings,
    stack: AsyncExitStack,
    metrics: Metrics,
) -> Ticker:
    if not 0 <= settings.fire_ahead_seconds <= MAX_FIRE_AHEAD_SECONDS:
        raise ValueError(f"the fire-ahead must be between 0 and {MAX_FIRE_AHEAD_SECONDS} seconds")
    ticker = Ticker(
        SqlTickerStore(engine),
        signals,
        TickerSettings(fire_ahead=timedelta(seconds=settings.fire_ahead_seconds)),
        metrics,
    )
    if settings.ticker:
        await ticker.start()
        stack.push_async_callback(ticker.stop)
    return ticker


def _start_gate(
    engine: AsyncEngine, signals: Signals, stack: AsyncExitStack, metrics: Metrics
) -> Gate:
    """On every replica, whether it ticks or not: the replica that stores a
    dependency's success wakes its own gate (no signal need travel) while
    that gate knows of slots waiting (engine.gate)."""
    gate = Gate(SqlGateStore(engine), signals, metrics)
    gate.start()
    stack.push_async_callback(gate.stop)
    return gate


def _start_alert_watch(engine: AsyncEngine, stack: AsyncExitStack) -> None:
    watch = AlertWatch(SqlAlertStore(engine).check)
    watch.start()
    stack.push_async_callback(watch.stop)


def _start_retention(engine: AsyncEngine, settings: Settings, stack: AsyncExitStack) -> None:
    if settings.execution_retention is None:
        log.info("execution retention is off: finished executions are kept forever")
        return
    retention = Retention(
        SqlRetentionStore(engine), RetentionSettings(keep=settings.execution_retention)
    )
    retention.start()
    stack.push_async_callback(retention.stop)


def _start_webhooks(
    engine: AsyncEngine, settings: Settings, stack: AsyncExitStack
) -> WebhookUseCases:
    """The loop that delivers alert events to webhooks, and what the webhook
    RPCs use. The HTTP client closes after the loop has stopped."""
    guard = TargetGuard(settings.webhook_rule)
    webhook_settings = WebhookSettings(policy=RetryPolicy(retry_for=settings.webhook_retry_for))
    sender = HttpSender(guard, webhook_settings.timeout)
    stack.push_async_callback(sender.aclose)
    dispatcher = WebhookDispatcher(SqlWebhookDeliveryStore(engine), sender.send, webhook_settings)
    dispatcher.start()
    stack.push_async_callback(dispatcher.stop)
    return WebhookUseCases(SqlWebhookStore(engine), guard, settings.webhook_rule, utc_now)


def _scheduler_deps(
    engine: AsyncEngine,
    settings: Settings,
    signals: Signals,
    ticker: Ticker,
    event_batcher: EventBatcher,
    workers: WorkerHub,
    metrics: Metrics,
) -> SchedulerDeps:
    stores = scheduler_stores(engine)
    return SchedulerDeps(
        **stores,
        max_payload_bytes=settings.max_payload_bytes,
        max_message_bytes=settings.max_message_bytes,
        signals=signals,
        event_batcher=event_batcher,
        job_quota=JobQuota(stores["jobs"].count_jobs, settings.quotas.jobs),
        workers_connected=workers.connected,
        health=EngineHealth(ticker, signals, "redis" if settings.redis_url else "in-process"),
        metrics=metrics,
    )


async def _serve(
    server: grpc.aio.Server,
    settings: Settings,
    workers: WorkerHub,
    database_health: Callable[[timedelta], Awaitable[ComponentHealth]],
    stack: AsyncExitStack,
    certificates: CertificateReloader | None,
) -> int:
    """Health and reflection, then listen; registers steps 1 to 3 of the stop
    order. Until then the serving status follows the database (NOT_SERVING
    while it cannot be reached)."""
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    credentials = None if certificates is None else certificates.credentials()
    port = bind(server, settings.listen, credentials, settings.reuse_port)
    await server.start()
    stack.push_async_callback(
        server.stop, min(settings.shutdown_grace_seconds, FINAL_GRACE_SECONDS)
    )
    stack.push_async_callback(workers.drain)
    await _set_serving(health_servicer, serving=True)
    stack.push_async_callback(_set_serving, health_servicer, False)
    watch = DatabaseWatch(database_health, partial(_set_serving, health_servicer))
    watch.start()
    stack.push_async_callback(watch.stop)  # before step 1, which it must not undo
    return port


async def _start_signals(settings: Settings, stack: AsyncExitStack) -> Signals:
    if settings.redis_url is None:
        return LocalSignals()
    redis_signals = RedisSignals(settings.redis_url)
    await redis_signals.start()
    stack.push_async_callback(redis_signals.stop)
    return redis_signals


async def _start_workers(
    engine: AsyncEngine,
    signals: Signals,
    settings: Settings,
    server: grpc.aio.Server,
    stack: AsyncExitStack,
    admin_store: SqlAdminStore,
    metrics: Metrics,
    gate: Gate,
) -> WorkerHub:
    """WorkerService and the hub behind it. Registers the hub's `stop` (step 4
    of the stop order); `start` registers its `drain` (step 2) once the gRPC
    server runs, so that it unwinds before the server stops."""
    if settings.dispatch_poll_seconds <= 0:
        raise ValueError("the dispatch poll interval must be positive")
    if not 0 < settings.heartbeat_seconds < settings.lease_seconds:
        raise ValueError("the heartbeat interval must be positive and shorter than the lease")
    hub = WorkerHub(
        SqlDispatchStore(engine, metrics.settled),
        signals,
        StreamSettings(
            lease=timedelta(seconds=settings.lease_seconds),
            heartbeat=timedelta(seconds=settings.heartbeat_seconds),
            reaper_interval=settings.reaper_interval_seconds,
            retry_cap=timedelta(seconds=settings.retry_cap_seconds),
            grace=settings.shutdown_grace_seconds,
            poll_interval=settings.dispatch_poll_seconds,
            max_streams=settings.quotas.worker_streams,
        ),
        live_keys=admin_store.live_keys,
        metrics=metrics,
        on_settled=gate.settled,
        reporter=SessionReporter(SqlWorkerRegistry(engine), replica_name()),
    )
    hub.start()
    stack.push_async_callback(hub.stop)
    add_worker_service(WorkerServicer(hub, settings.max_payload_bytes).Connect, server)
    return hub


def _serve_metrics(
    metrics: Metrics,
    engine: AsyncEngine,
    workers: WorkerHub,
    signals: Signals,
    settings: Settings,
    stack: AsyncExitStack,
) -> int | None:
    """/metrics and the gauges behind it, when CRONSTREAM_METRICS_LISTEN asks."""
    if settings.metrics_listen is None:
        return None
    redis = (lambda: signals.healthy) if isinstance(signals, RedisSignals) else None
    gauges = GaugeRefresher(
        metrics, ClusterReporter(engine), workers.sessions, partial(pool_figures, engine), redis
    )
    gauges.start()
    stack.push_async_callback(gauges.stop)
    endpoint = serve_metrics(metrics.registry, settings.metrics_listen)
    stack.callback(endpoint.close)
    return endpoint.port


def _bridge_socket(
    server: grpc.aio.Server, settings: Settings, stack: AsyncExitStack
) -> str | None:
    """The address the HTTP port's bridge reaches this gRPC server by, when
    there is an HTTP port: a unix socket (no TCP port, whatever the public
    port's TLS) in a folder only this user may enter (mkdtemp makes it 0700)."""
    if settings.http_listen is None:
        return None
    folder = tempfile.mkdtemp(prefix="cronstream-")
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    address = f"unix:{folder}/grpc.sock"
    server.add_insecure_port(address)
    return address


async def _serve_http(
    settings: Settings, bridge_socket: str | None, stack: AsyncExitStack
) -> int | None:
    """The dashboard and its gRPC-web bridge, in a process of their own
    (web/child.py says why); step 0 of the stop order."""
    if settings.http_listen is None or bridge_socket is None:
        return None
    port = await start_web_process(
        PortSettings(
            listen=settings.http_listen,
            socket=bridge_socket,
            max_message_bytes=settings.max_message_bytes,
            trace_url=settings.trace_url,
            environment=read_environment(settings),
        )
    )
    stack.push_async_callback(port.close)
    return port.port


def _server_options(settings: Settings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # Let workers ping every 20 s (below common load-balancer idle timeouts).
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.keepalive_time_ms", 20_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        *socket_options(settings.reuse_port),
    ]


async def _set_serving(servicer: health.aio.HealthServicer, serving: bool) -> None:
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    for name in ("", *SERVICE_NAMES):
        await servicer.set(name, status)


def _stop(stopping: asyncio.Event, starting: asyncio.Task[Running]) -> None:
    stopping.set()
    starting.cancel()  # a no-op once started


async def serve(settings: Settings) -> None:
    """Runs until SIGTERM or SIGINT, then stops gracefully. SIGHUP re-reads
    the TLS files; without TLS it keeps its default meaning (the process ends),
    so that closing the terminal of a `make run` still stops it."""
    # The stop signals are taken before the start, so that one arriving just
    # as the server starts serving still stops it gracefully; one arriving
    # during the start cancels it (`start` unwinds what had started).
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    starting = asyncio.create_task(start(settings))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop, stopping, starting)
    try:
        running = await starting
    except asyncio.CancelledError:
        if not stopping.is_set():
            raise
        log.info("stopped while starting")
        return
    if running.certificates is not None:
        loop.add_signal_handler(signal.SIGHUP, running.certificates.reload)
    heap.settle_after_start()
    try:
        await stopping.wait()
        log.info("stopping: finishing calls for up to %ss", settings.shutdown_grace_seconds)
    finally:
        await running.stop()
