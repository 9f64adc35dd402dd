"""SchedulerService: GetJobStats, GetMetrics, GetHealth."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert_events import (
    health_message,
    job_stats_message,
    metrics_message,
)
from cronstream_server.api.deps import Context, SchedulerDeps
from cronstream_server.api.interceptor import current_platform
from cronstream_server.core.insight import ComponentHealth, HealthStatus

log = logging.getLogger(__name__)


class InsightRpcs:
    deps: SchedulerDeps

    async def GetJobStats(
        self, request: pb.GetJobStatsRequest, context: Context
    ) -> pb.GetJobStatsResponse:
        platform_id = current_platform().platform_id
        job = await self.deps.jobs.get_job(platform_id, request.job_id)  # NOT_FOUND if not ours
        figures = await self.deps.insight.job_figures(platform_id, job.id)
        return pb.GetJobStatsResponse(stats=job_stats_message(job, figures))

    async def GetMetrics(
        self, request: pb.GetMetricsRequest, context: Context
    ) -> pb.GetMetricsResponse:
        platform_id = current_platform().platform_id
        figures = await self.deps.insight.platform_figures(platform_id, self.deps.now())
        workers = self.deps.workers_connected(platform_id)
        return pb.GetMetricsResponse(metrics=metrics_message(figures, workers))

    async def GetHealth(
        self, request: pb.GetHealthRequest, context: Context
    ) -> pb.GetHealthResponse:
        """Answers even when everything is down: each component reports its
        own failure instead of failing the call."""
        components = [
            await self.deps.insight.database_health(),
            await _probe("signals", self.deps.health.signals),
            await _probe("engine", self.deps.health.engine),
        ]
        return pb.GetHealthResponse(health=health_message(components))


async def _probe(name: str, check: Callable[[], Awaitable[ComponentHealth]]) -> ComponentHealth:
    """A probe that breaks its promise not to raise is reported, not propagated."""
    try:
        return await check()
    except Exception:
        log.exception("health probe %s failed", name)
        return ComponentHealth(name, HealthStatus.NOT_SERVING, "health check failed")
