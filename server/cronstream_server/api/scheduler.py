"""SchedulerService: one servicer assembled from a module per group of RPCs."""

from __future__ import annotations

from cronstream.v1 import scheduler_service_pb2_grpc as pb_grpc

from cronstream_server.api.deps import SchedulerDeps
from cronstream_server.api.scheduler_alerts import AlertRpcs
from cronstream_server.api.scheduler_backfill import BackfillRpcs
from cronstream_server.api.scheduler_events import EventRpcs
from cronstream_server.api.scheduler_executions import ExecutionRpcs
from cronstream_server.api.scheduler_insight import InsightRpcs
from cronstream_server.api.scheduler_jobs import JobRpcs
from cronstream_server.api.scheduler_pausing import PausingRpcs
from cronstream_server.api.scheduler_preview import PreviewRpcs
from cronstream_server.api.scheduler_rate_limits import RateLimitRpcs
from cronstream_server.api.scheduler_recent import RecentRpcs
from cronstream_server.api.scheduler_webhooks import WebhookRpcs
from cronstream_server.api.scheduler_workers import WorkerRpcs


class SchedulerServicer(
    JobRpcs,
    PausingRpcs,
    BackfillRpcs,
    ExecutionRpcs,
    EventRpcs,
    InsightRpcs,
    RecentRpcs,
    PreviewRpcs,
    AlertRpcs,
    WebhookRpcs,
    RateLimitRpcs,
    WorkerRpcs,
    pb_grpc.SchedulerServiceServicer,
):
    def __init__(self, deps: SchedulerDeps) -> None:
        self.deps = deps
