"""What the servicers work with, built once by the server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import grpc

from cronstream_server.core.insight import ComponentHealth
from cronstream_server.core.ports import (
    AlertStore,
    EventStore,
    ExecutionStore,
    InsightStore,
    JobStore,
    RateLimitStore,
    Signals,
    WorkerRegistry,
)
from cronstream_server.engine.event_batcher import EventBatcher
from cronstream_server.service.backfill import BackfillUseCases
from cronstream_server.service.events import EventUseCases
from cronstream_server.service.executions import ExecutionUseCases
from cronstream_server.service.insight import InsightUseCases
from cronstream_server.service.job_quota import JobQuota
from cronstream_server.service.jobs import JobUseCases
from cronstream_server.service.outcome import Outcome
from cronstream_server.service.publish import Publisher
from cronstream_server.service.rate_limits import RateLimitUseCases
from cronstream_server.service.webhooks import WebhookUseCases
from cronstream_server.signals.local import LocalSignals
from cronstream_server.telemetry.metrics import Metrics

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


class HealthProbe(Protocol):
    """The in-process components GetHealth reports beside the database."""

    async def signals(self) -> ComponentHealth:
        """The "signals" component (cross-replica wake-ups); must not raise."""
        ...

    async def engine(self) -> ComponentHealth:
        """The "engine" component (ticker and dispatch); must not raise."""
        ...


@dataclass
class SchedulerDeps:
    jobs: JobStore
    executions: ExecutionStore
    events: EventStore
    insight: InsightStore
    alerts: AlertStore
    rate_limits: RateLimitStore
    health: HealthProbe
    event_batcher: EventBatcher
    # Worker sessions connected to this replica, by platform id.
    workers_connected: Callable[[str], int]
    # The worker sessions of every replica (ListWorkers).
    workers: WorkerRegistry
    max_payload_bytes: int = 256 * 1024
    # The server's gRPC message limit (Settings.max_message_bytes): a batch
    # whose response would exceed it is refused before it is stored, and list
    # pages are cut to fit under it (api/paging.py).
    max_message_bytes: int = 4 * 1024 * 1024
    # The jobs quota (CRONSTREAM_QUOTA_JOBS); by default none.
    job_quota: JobQuota = field(default_factory=JobQuota.unlimited)
    now: Callable[[], datetime] = field(default=utc_now)
    signals: Signals = field(default_factory=LocalSignals)
    # What the calls count (the cancellations they make).
    metrics: Metrics = field(default_factory=lambda: Metrics(enabled=False))
    # Webhooks: their use cases, store and target check (server.py builds them).
    webhooks: WebhookUseCases | None = None
    # BackfillJob's use case, with its store and release rate (server.py builds it).
    backfills: BackfillUseCases | None = None
    # The use cases over the ports above (built from them): every change a
    # call makes goes through one of these, reads go to the ports directly.
    jobs_use: JobUseCases = field(init=False)
    executions_use: ExecutionUseCases = field(init=False)
    events_use: EventUseCases = field(init=False)
    rate_limits_use: RateLimitUseCases = field(init=False)
    insight_use: InsightUseCases = field(init=False)
    publisher: Publisher = field(init=False)

    def __post_init__(self) -> None:
        self.jobs_use = JobUseCases(self.jobs, self.job_quota, self.now, self.metrics.paused_slots)
        self.executions_use = ExecutionUseCases(self.executions, self.now)
        self.events_use = EventUseCases(self.events, self.event_batcher.deliver, self.now)
        self.rate_limits_use = RateLimitUseCases(self.rate_limits, self.now)
        self.insight_use = InsightUseCases(self.insight)
        self.publisher = Publisher(self.signals)

    async def done(self, outcome: Outcome[T]) -> T:
        """Publishes what a use case asks once it committed; its value."""
        return await self.publisher.done(outcome)
