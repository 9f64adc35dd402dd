"""The ticker's SQL: claim due jobs, record their slots, move them on.

Every statement runs inside the one transaction of a tick, so a job's slots
and its new next_run commit together or not at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Select,
    bindparam,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.core.enums import ExecutionStatus
from cronstream_server.core.executions import Execution
from cronstream_server.core.firing import Outstanding, unfire
from cronstream_server.core.jobs import Job
from cronstream_server.store import bulk_postgres
from cronstream_server.store.rows import execution_values, job_from_row
from cronstream_server.store.tables import job_executions, scheduled_jobs
from cronstream_server.store.types import one_of

jobs = scheduled_jobs
executions = job_executions

# due_at of a BUFFER_ONE execution waiting for the running one: never due
# until released (see `release_buffered`).
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
FAR_FUTURE_SQL = "9999-12-31 00:00:00+00"  # as ix_job_executions_buffered names it


async def database_now(conn: AsyncConnection) -> datetime:
    """The database's clock: every replica agrees on it, whatever its own says.

    SQLite is embedded (one process, one clock), so it is this process's clock."""
    if conn.dialect.name == "postgresql":
        value: datetime = (await conn.execute(select(func.clock_timestamp()))).scalar_one()
        return value.astimezone(UTC)
    return datetime.now(UTC)


# `status = 'active'` as a literal, not a bound parameter: only then can the
# planner match ix_scheduled_jobs_due's predicate in every plan. A parameter
# hides the value from SQLite's planner, and from the generic plans Postgres
# may settle on for a statement the driver has prepared; either then reads
# every active job through ix_scheduled_jobs_status and sorts them.
_ACTIVE = jobs.c.status == literal_column("'active'")
# The jobs that may fire ahead (core.firing.fires_ahead).
_FIRES_AHEAD = jobs.c.overlap_policy == literal_column("'allow'")


def due_jobs_query(dialect: str, now: datetime, horizon: datetime, limit: int) -> Select[Any]:
    """The ticker's claim: active jobs whose next_run has come (by `horizon`
    for jobs that fire ahead, by `now` for the others), oldest slot first, at
    most `limit`, locked for this tick.

    SKIP LOCKED: a job another replica is firing right now is left to it, and
    this replica takes the next ones, so replicas share the work without ever
    firing a slot twice (the slot's unique index is the second guard). The
    partial index ix_scheduled_jobs_due serves the WHERE and the ORDER BY, so
    the cost is that of the rows claimed, not of the jobs held.
    """
    query = (
        select(jobs)
        .where(_ACTIVE, jobs.c.next_run <= horizon, or_(_FIRES_AHEAD, jobs.c.next_run <= now))
        .order_by(jobs.c.next_run)
        .limit(limit)
    )
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return query


async def claim_due_jobs(
    conn: AsyncConnection, now: datetime, horizon: datetime, limit: int
) -> list[Job]:
    """Claims due jobs (`due_jobs_query`) for this tick's transaction."""
    query = due_jobs_query(conn.dialect.name, now, horizon, limit)
    return [job_from_row(row) for row in (await conn.execute(query)).all()]


async def outstanding(conn: AsyncConnection, job_ids: Sequence[str]) -> dict[str, Outstanding]:
    """Unfinished executions of these jobs, for their overlap policies."""
    if not job_ids:
        return {}
    buffered = executions.c.due_at == FAR_FUTURE
    query = (
        select(executions.c.job_id, executions.c.status, buffered.label("buffered"), func.count())
        .where(executions.c.job_id.in_(job_ids), executions.c.status.in_(["pending", "running"]))
        .group_by(executions.c.job_id, executions.c.status, buffered)
    )
    counts: dict[str, dict[str, int]] = {}
    for job_id, status, is_buffered, count in (await conn.execute(query)).all():
        key = "buffered" if is_buffered else status
        counts.setdefault(job_id, {})[key] = count
    return {job_id: Outstanding(**c) for job_id, c in counts.items()}


async def insert_slots(conn: AsyncConnection, batch: Sequence[Execution]) -> Counter[str]:
    """Inserts slot executions, silently dropping any slot that already has one
    (the unique index on (job_id, scheduled_at) for schedule slots); returns
    how many were inserted per job."""
    if not batch:
        return Counter()
    if conn.dialect.name == "postgresql":
        rows = [execution_values(e) for e in batch]
        return Counter(await bulk_postgres.insert_slots(conn, rows))
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = (
        dialect_insert(executions)
        .on_conflict_do_nothing(
            index_elements=["job_id", "scheduled_at"], index_where=text("trigger = 'schedule'")
        )
        .returning(executions.c.job_id)
    )
    result = await conn.execute(statement, [execution_values(e) for e in batch])
    return Counter(result.scalars().all())


_JOB_MOVED = (
    update(jobs)
    .where(jobs.c.id == bindparam("b_id"))
    .values(
        next_run=bindparam("b_next_run"),
        last_run=bindparam("b_last_run"),
        runs_count=bindparam("b_runs_count"),
        status=bindparam("b_status"),
        completed_at=bindparam("b_completed_at"),
        updated_at=bindparam("b_updated_at"),
        executions_count=jobs.c.executions_count + bindparam("b_added"),
    )
)


async def move_jobs(conn: AsyncConnection, moves: Sequence[dict[str, Any]]) -> None:
    """One executemany: each job's next_run, last_run, status and counters."""
    if moves and conn.dialect.name == "postgresql":
        await bulk_postgres.move_jobs(conn, moves)
    elif moves:
        await conn.execute(_JOB_MOVED, list(moves))


async def cancel_outstanding(
    conn: AsyncConnection, job_ids: Sequence[str], now: datetime
) -> list[str]:
    """CANCEL_PREVIOUS: cancels the jobs' unfinished executions; returns the ids
    of those that were running, whose workers must be told."""
    if not job_ids:
        return []
    running = await conn.execute(
        select(executions.c.id).where(
            executions.c.job_id.in_(job_ids), executions.c.status == "running"
        )
    )
    running_ids = list(running.scalars().all())
    await conn.execute(
        update(executions)
        .where(executions.c.job_id.in_(job_ids), executions.c.status.in_(["pending", "running"]))
        .values(
            status=ExecutionStatus.CANCELLED.value,
            completed_at=now,
            error="cancelled: a newer slot started (overlap policy cancel_previous)",
        )
    )
    return running_ids


async def release_buffered(conn: AsyncConnection, job_ids: Sequence[str], now: datetime) -> None:
    """BUFFER_ONE: the waiting execution of each job becomes due now (called
    when the job's running execution reaches a final status, for every batch
    of results). On Postgres the predicates are literals, so that every plan
    can use ix_job_executions_buffered, and the ids one array parameter."""
    if not job_ids:
        return
    if conn.dialect.name == "postgresql":
        pending = executions.c.status == literal_column("'pending'")
        buffered = executions.c.due_at == literal_column(f"'{FAR_FUTURE_SQL}'")
    else:
        pending = executions.c.status == "pending"
        buffered = executions.c.due_at == FAR_FUTURE
    named = one_of(executions.c.job_id, job_ids, conn.dialect.name)
    await conn.execute(update(executions).where(named, pending, buffered).values(due_at=now))


# When the ticker has work next: the first entry of ix_scheduled_jobs_due.
EARLIEST_NEXT_RUN = select(func.min(jobs.c.next_run)).where(_ACTIVE)


async def earliest_next_run(conn: AsyncConnection) -> datetime | None:
    """When the ticker has work next (EARLIEST_NEXT_RUN)."""
    value: datetime | None = (await conn.execute(EARLIEST_NEXT_RUN)).scalar_one_or_none()
    return None if value is None else _utc(value)


async def withdraw_fired_ahead(conn: AsyncConnection, job: Job) -> Job:
    """Deletes the job's executions fired ahead whose instants have not come
    (still pending, so no worker has them) and returns the job as if they had
    never been fired. Runs under the job's row lock, before a pause, an edit
    or a cancel: a paused job must not run at the next instant, and an edited
    one must run it with its new spec. A slot cancelled by hand stays
    cancelled: only pending executions are withdrawn.

    Every tick leaves last_run on the latest slot it fired, so a job has
    slots fired ahead only while its last_run is still to come: any other
    change costs no more than reading the clock."""
    if job.last_run is None:
        return job
    now = await database_now(conn)
    if job.last_run <= now:
        return job
    withdrawn = await conn.execute(
        delete(executions)
        .where(
            executions.c.job_id == job.id,
            executions.c.trigger == literal_column("'schedule'"),
            executions.c.status == literal_column("'pending'"),
            executions.c.scheduled_at > now,
        )
        .returning(executions.c.scheduled_at)
    )
    slots = [_utc(at) for at in withdrawn.scalars().all()]
    if not slots:
        return job
    first = min(slots)
    before = await conn.execute(
        select(func.max(executions.c.scheduled_at)).where(
            executions.c.job_id == job.id,
            executions.c.trigger == literal_column("'schedule'"),
            executions.c.scheduled_at < first,
        )
    )
    found = before.scalar_one_or_none()
    return unfire(job, slots, None if found is None else _utc(found))


def _utc(value: datetime) -> datetime:
    """SQLite's min() and max() hand times back naive."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
