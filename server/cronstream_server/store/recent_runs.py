"""The latest runs of many jobs in one query (GetRecentRuns).

Both shapes read ix_job_executions_runs (job_id, scheduled_at, id, of the
runs that ended). On Postgres a LATERAL subquery takes each asked job's
first `limit` entries of it from its end, so a call reads at most
200 x `limit` index entries however long the jobs' histories are. SQLite has
no LATERAL: row_number() over each job's runs keeps the first `limit`, after
reading all of them (the embedded mode's histories are small).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Select, func, select, text, true

from cronstream_server.core.enums import ExecutionStatus
from cronstream_server.core.insight import RecentRun
from cronstream_server.store.database import Dialect
from cronstream_server.store.tables import FINAL_RUNS, job_executions
from cronstream_server.store.types import uuid_array

executions = job_executions
_COLUMNS = (
    executions.c.job_id,
    executions.c.id,
    executions.c.status,
    executions.c.scheduled_at,
    executions.c.started_at,
    executions.c.duration_ms,
)


def recent_runs_query(
    dialect: Dialect, platform_id: str, job_ids: Collection[str], limit: int
) -> Select[Any]:
    """Rows of _COLUMNS, each job's newest first."""
    if dialect.lateral_joins:
        return _lateral(platform_id, job_ids, limit)
    return _ranked(platform_id, job_ids, limit)


def _of(platform_id: str) -> tuple[Any, ...]:
    # The predicate as the index writes it, word for word, so that a plan
    # prepared once (Postgres' generic plan) still proves the index applies.
    return (executions.c.platform_id == platform_id, text(FINAL_RUNS))


def _lateral(platform_id: str, job_ids: Collection[str], limit: int) -> Select[Any]:
    asked = (
        func.unnest(uuid_array("job_ids", list(job_ids)))
        .table_valued("job_id")
        .render_derived(name="asked")
    )
    runs = (
        select(*_COLUMNS)
        .where(executions.c.job_id == asked.c.job_id, *_of(platform_id))
        .order_by(executions.c.scheduled_at.desc(), executions.c.id.desc())
        .limit(limit)
        .lateral("runs")
    )
    # Each job's rows come out of its subquery in order; SQL promises that of
    # the outer query only with its own ORDER BY (a sort of at most 10,000 rows).
    return (
        select(runs)
        .select_from(asked)
        .join(runs, true())
        .order_by(runs.c.job_id, runs.c.scheduled_at.desc(), runs.c.id.desc())
    )


def _ranked(platform_id: str, job_ids: Collection[str], limit: int) -> Select[Any]:
    rank = (
        func.row_number()
        .over(
            partition_by=executions.c.job_id,
            order_by=(executions.c.scheduled_at.desc(), executions.c.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(*_COLUMNS, rank)
        .where(executions.c.job_id.in_(list(job_ids)), *_of(platform_id))
        .subquery("ranked")
    )
    return (
        select(*(ranked.c[column.name] for column in _COLUMNS))
        .where(ranked.c.rank <= limit)
        .order_by(ranked.c.job_id, ranked.c.rank)
    )


def runs_by_job(rows: Sequence[Any]) -> Mapping[str, list[RecentRun]]:
    """The rows, in their order, grouped by job id."""
    found: defaultdict[str, list[RecentRun]] = defaultdict(list)
    for row in rows:
        found[str(row.job_id)].append(
            RecentRun(
                execution_id=str(row.id),
                status=ExecutionStatus(row.status),
                scheduled_at=row.scheduled_at,
                started_at=row.started_at,
                duration_ms=row.duration_ms,
            )
        )
    return found
