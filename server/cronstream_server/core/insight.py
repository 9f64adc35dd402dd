"""Insight read models: a job's execution figures, platform figures, health,
and the small pure functions that finish them (nearest-rank percentile,
success rate, worst status)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import field
from datetime import datetime, timedelta
from enum import IntEnum

from cronstream_server.core.enums import ExecutionStatus, JobStatus, JobType
from cronstream_server.core.values import value_type

_FINISHED = (ExecutionStatus.SUCCESS, ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT)
# What a job list draws as a run: executions that ended, or were skipped.
RUN_STATUSES = (
    ExecutionStatus.SUCCESS,
    ExecutionStatus.FAILED,
    ExecutionStatus.TIMEOUT,
    ExecutionStatus.CANCELLED,
    ExecutionStatus.SKIPPED,
)
# GetRecentRuns: runs per job by default, and at most.
DEFAULT_RECENT_RUNS = 20
MAX_RECENT_RUNS = 50
# How long a database health check may take before it counts as NOT_SERVING.
DATABASE_CHECK_TIMEOUT = timedelta(seconds=5)


@value_type
class ExecutionFigures:
    """A job's executions: counts by status (no zero entries) and the durations
    of successful ones (mean over all of them, p95 over the latest sample)."""

    by_status: dict[ExecutionStatus, int]
    avg_duration_ms: int | None
    p95_duration_ms: int | None

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def success_rate(self) -> float:
        return success_rate(self.by_status)


@value_type
class PlatformFigures:
    jobs_by_status: dict[JobStatus, int] = field(default_factory=dict)
    jobs_by_type: dict[JobType, int] = field(default_factory=dict)
    executions_by_status: dict[ExecutionStatus, int] = field(default_factory=dict)
    queue_depth: int = 0


@value_type
class RecentRun:
    """One finished or skipped execution of a job, as a sparkline draws it."""

    execution_id: str
    status: ExecutionStatus
    scheduled_at: datetime
    started_at: datetime | None
    duration_ms: int | None

    @property
    def lateness(self) -> timedelta | None:
        """How late it started after its instant; None when it never started."""
        return self.started_at - self.scheduled_at if self.started_at is not None else None


class HealthStatus(IntEnum):
    """Ordered from best to worst, so the worst of several is their max."""

    SERVING = 1
    DEGRADED = 2
    NOT_SERVING = 3


@value_type
class ComponentHealth:
    name: str
    status: HealthStatus
    message: str = ""
    latency: timedelta | None = None


def success_rate(by_status: dict[ExecutionStatus, int]) -> float:
    """Successes over finished executions (success, failed, timeout); 0 when none."""
    finished = sum(by_status.get(status, 0) for status in _FINISHED)
    return by_status.get(ExecutionStatus.SUCCESS, 0) / finished if finished else 0.0


def nearest_rank(values: Sequence[int], percentile: float) -> int | None:
    """The nearest-rank percentile (the smallest value with at least
    `percentile` % of the values at or below it); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    return ordered[rank - 1]


def overall(components: Iterable[ComponentHealth]) -> HealthStatus:
    """The worst status among `components` (SERVING when there are none)."""
    return max((c.status for c in components), default=HealthStatus.SERVING)
