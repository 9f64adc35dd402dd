"""Insight on SQL: a job's execution statistics, platform metrics, database health."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.core.enums import ExecutionStatus, JobStatus, JobType
from cronstream_server.core.insight import (
    DATABASE_CHECK_TIMEOUT,
    ComponentHealth,
    ExecutionFigures,
    HealthStatus,
    PlatformFigures,
    RecentRun,
    nearest_rank,
)
from cronstream_server.store.database import dialect_of
from cronstream_server.store.errors import database_errors
from cronstream_server.store.recent_runs import recent_runs_query, runs_by_job
from cronstream_server.store.tables import job_executions, scheduled_jobs

E = TypeVar("E", ExecutionStatus, JobStatus, JobType)

executions = job_executions
jobs = scheduled_jobs

# p95 reads the durations of at most this many of a job's latest successful
# executions, so one GetJobStats call stays cheap however long the job has run;
# past that, p95 describes recent behaviour, which is what an operator asks about.
P95_SAMPLE_LIMIT = 10_000


class SqlInsightStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    async def job_figures(self, platform_id: str, job_id: str) -> ExecutionFigures:
        """Figures of the job's executions. The caller has checked that the job
        is the platform's; an unknown job simply has no executions."""
        of_job = (executions.c.platform_id == platform_id, executions.c.job_id == job_id)
        success = ExecutionStatus.SUCCESS.value
        counts = select(
            executions.c.status,
            func.count(),
            func.avg(executions.c.duration_ms),  # of the success group: what we report
        ).where(*of_job)
        async with database_errors(), self._engine.connect() as conn:
            rows = (await conn.execute(counts.group_by(executions.c.status))).all()
            durations = list((await conn.execute(_latest_durations(platform_id, job_id))).scalars())
        by_status = {ExecutionStatus(status): count for status, count, _ in rows}
        mean = next((avg for status, _, avg in rows if status == success), None)
        return ExecutionFigures(
            by_status=by_status,
            avg_duration_ms=round(float(mean)) if mean is not None else None,
            p95_duration_ms=nearest_rank(durations, 95),
        )

    async def p95_duration_ms(self, platform_id: str, job_id: str) -> int | None:
        """The p95 of the job's latest successful durations, over the same sample
        as `job_figures` (so PreviewSchedule and GetJobStats agree); None when none."""
        async with database_errors(), self._engine.connect() as conn:
            durations = list((await conn.execute(_latest_durations(platform_id, job_id))).scalars())
        return nearest_rank(durations, 95)

    async def platform_figures(self, platform_id: str, now: datetime) -> PlatformFigures:
        """Jobs by status and type, executions by status, and the queue depth:
        pending executions due at or before `now`."""
        mine = jobs.c.platform_id == platform_id
        ran = executions.c.platform_id == platform_id
        queued = (
            select(func.count())
            .select_from(executions)
            .where(
                ran,
                executions.c.status == ExecutionStatus.PENDING.value,
                executions.c.due_at <= now,
            )
        )
        async with database_errors(), self._engine.connect() as conn:
            return PlatformFigures(
                jobs_by_status=await _counts(conn, jobs.c.status, mine, JobStatus),
                jobs_by_type=await _counts(conn, jobs.c.type, mine, JobType),
                executions_by_status=await _counts(conn, executions.c.status, ran, ExecutionStatus),
                queue_depth=(await conn.execute(queued)).scalar_one(),
            )

    async def recent_runs(
        self, platform_id: str, job_ids: Collection[str], limit: int
    ) -> Mapping[str, Sequence[RecentRun]]:
        if not job_ids or limit <= 0:
            return {}
        query = recent_runs_query(self._dialect, platform_id, job_ids, limit)
        async with database_errors(), self._engine.connect() as conn:
            return runs_by_job((await conn.execute(query)).all())

    async def database_health(self, within: timedelta = DATABASE_CHECK_TIMEOUT) -> ComponentHealth:
        """A `SELECT 1` round trip and its latency. Never raises: a failure or
        a check slower than `within` is NOT_SERVING with why."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(within.total_seconds()):
                async with self._engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            status, message = HealthStatus.SERVING, ""
        except TimeoutError:
            seconds = within.total_seconds()
            status, message = HealthStatus.NOT_SERVING, f"no answer within {seconds:g} s"
        except Exception as error:
            status, message = HealthStatus.NOT_SERVING, f"unreachable: {type(error).__name__}"
        latency = timedelta(seconds=time.perf_counter() - started)
        return ComponentHealth("database", status, message, latency)


def _latest_durations(platform_id: str, job_id: str) -> Select[Any]:
    """Durations of the job's latest P95_SAMPLE_LIMIT successful executions; the
    percentile is taken in Python, alike on both databases (SQLite has none)."""
    return (
        select(executions.c.duration_ms)
        .where(
            executions.c.platform_id == platform_id,
            executions.c.job_id == job_id,
            executions.c.status == ExecutionStatus.SUCCESS.value,
            executions.c.duration_ms.is_not(None),
        )
        .order_by(executions.c.created_at.desc(), executions.c.id.desc())
        .limit(P95_SAMPLE_LIMIT)
    )


async def _counts(conn: AsyncConnection, column: Any, where: Any, kind: type[E]) -> dict[E, int]:
    query: Select[Any] = select(column, func.count()).where(where).group_by(column)
    return {kind(value): count for value, count in (await conn.execute(query)).all()}
