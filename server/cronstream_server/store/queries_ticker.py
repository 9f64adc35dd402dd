"""The ticker's SQL: claim due jobs, record their slots, move them on.

Every statement runs inside the one transaction of a tick (`store.ticker`),
so a job's slots and its new next_run commit together or not at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    bindparam,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.core import fairness
from cronstream_server.core.enums import ExecutionStatus
from cronstream_server.core.executions import Execution
from cronstream_server.core.firing import Outstanding
from cronstream_server.core.jobs import Job
from cronstream_server.core.ports import JobMove
from cronstream_server.store import bulk_postgres
from cronstream_server.store.buffered import is_waiting
from cronstream_server.store.clock import as_utc
from cronstream_server.store.database import Dialect
from cronstream_server.store.dependencies import with_dependencies
from cronstream_server.store.rows import execution_values, job_from_row
from cronstream_server.store.tables import SLOT_TRIGGERS, job_executions, platforms, scheduled_jobs
from cronstream_server.store.types import one_of, uuid_array

jobs = scheduled_jobs
executions = job_executions

# `status = 'active'` as a literal, not a bound parameter: only then can the
# planner match ix_scheduled_jobs_due's predicate in every plan. A parameter
# hides the value from SQLite's planner, and from the generic plans Postgres
# may settle on for a statement the driver has prepared; either then reads
# every active job and sorts them.
_ACTIVE = jobs.c.status == literal_column("'active'")
# Executions that have not finished: waiting for dependencies, pending, running.
_UNFINISHED = ("waiting", "pending", "running")
_PAUSED = jobs.c.status == literal_column("'paused'")
# The jobs that may fire ahead (core.firing.fires_ahead, in SQL).
_FIRES_AHEAD = jobs.c.overlap_policy == literal_column("'allow'")
# Executions the overlap policies weigh: all but BackfillJob's.
_LIVE = executions.c.trigger != literal_column("'backfill'")


def _due(now: datetime, horizon: datetime) -> tuple[ColumnElement[bool], ...]:
    """Active jobs whose next_run has come: by `horizon` for jobs that fire
    ahead, by `now` for the others."""
    return (_ACTIVE, jobs.c.next_run <= horizon, or_(_FIRES_AHEAD, jobs.c.next_run <= now))


def due_jobs_query(now: datetime, horizon: datetime, limit: int) -> Select[Any]:
    """Due jobs (`_due`) of every platform, oldest slot first, at most
    `limit`, locked for this tick (the claim of one platform's share is this
    with its platform_id; see `claim_due_jobs`).

    SKIP LOCKED: a job another replica is firing right now is left to it, and
    this replica takes the next ones, so replicas share the work without ever
    firing a slot twice (the slot's unique index is the second guard). SQLite
    renders no row lock: its transactions hold the one write lock from BEGIN.
    The partial index ix_scheduled_jobs_due serves the WHERE and the ORDER
    BY, so the cost is that of the rows claimed, not of the jobs held.
    """
    return (
        select(jobs)
        .where(*_due(now, horizon))
        .order_by(jobs.c.next_run)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def demand_query(
    dialect: Dialect,
    now: datetime,
    horizon: datetime,
    batch: int,
    lane: fairness.TickLane = fairness.EVERY_PLATFORM,
) -> Select[Any]:
    """Each platform with due jobs that `lane` serves: its id, weight, how
    many are due (counted up to `batch`: a share is never more) and its
    earliest next_run.

    With LATERAL (Postgres): per platform one range scan of
    ix_scheduled_jobs_platform_due that stops at `batch` rows, so a backlog
    of 20,000 costs what a batch does. Without (SQLite, embedded and small):
    one GROUP BY over the due range of ix_scheduled_jobs_due.
    """
    if dialect.lateral_joins:
        capped = (
            select(jobs.c.next_run)
            .where(jobs.c.platform_id == platforms.c.id, *_due(now, horizon))
            .order_by(jobs.c.next_run)
            .limit(batch)
            .correlate(platforms)
            .subquery("capped")
        )
        counted = select(
            func.count().label("due"), func.min(capped.c.next_run).label("earliest")
        ).lateral("counted")
        return (
            select(
                platforms.c.id.label("platform_id"),
                platforms.c.weight,
                counted.c.due,
                counted.c.earliest,
            )
            .select_from(platforms)
            .join(counted, true())
            .where(counted.c.due > 0, *_in_lane(platforms.c.id, lane, dialect))
        )
    return (
        select(
            jobs.c.platform_id,
            platforms.c.weight,
            func.count().label("due"),
            func.min(jobs.c.next_run).label("earliest"),
        )
        .join(platforms, platforms.c.id == jobs.c.platform_id)
        .where(*_due(now, horizon), *_in_lane(jobs.c.platform_id, lane, dialect))
        .group_by(jobs.c.platform_id, platforms.c.weight)
    )


def _in_lane(
    platform_id: ColumnElement[str], lane: fairness.TickLane, dialect: Dialect
) -> tuple[ColumnElement[bool], ...]:
    """The platforms `lane` serves: the bursting ones (bulk), or the others."""
    if not lane.platforms:
        return () if not lane.bulk else (false(),)
    bursting = one_of(platform_id, sorted(lane.platforms), dialect.uuid_arrays)
    return (bursting,) if lane.bulk else (~bursting,)


def shares_query(now: datetime, horizon: datetime, split: dict[str, int]) -> Select[Any]:
    """The claim of each platform's share (Postgres): for each platform,
    its oldest due jobs up to its share, locked for this tick with SKIP
    LOCKED, in one statement (a LATERAL per platform over
    ix_scheduled_jobs_platform_due; a window function could rank them but
    cannot lock what it ranks)."""
    ids = uuid_array("share_platforms", list(split))
    counts = bindparam("share_counts", list(split.values()), type_=ARRAY(Integer))
    asked = func.unnest(ids, counts).table_valued("platform_id", "share").render_derived("asked")
    claimed = (
        select(jobs)
        .where(jobs.c.platform_id == asked.c.platform_id, *_due(now, horizon))
        .order_by(jobs.c.next_run)
        .limit(asked.c.share)
        .with_for_update(skip_locked=True)
        .lateral("claimed")
    )
    return select(claimed).select_from(asked).join(claimed, true())


@dataclass(frozen=True, slots=True)
class DueClaim:
    """The due jobs a tick claimed, each with its depends_on; each served
    platform's due count as read (up to the limit); and how many of the
    shares' jobs were skipped, locked by another transaction (another
    replica's tick, or a results batch updating a job's counters)."""

    jobs: list[Job]
    demand: dict[str, int]
    skipped: int


async def claim_due_jobs(
    conn: AsyncConnection,
    dialect: Dialect,
    now: datetime,
    horizon: datetime,
    limit: int,
    lane: fairness.TickLane = fairness.EVERY_PLATFORM,
) -> DueClaim:
    """Claims due jobs for this tick's transaction, at most `limit`, shared
    fairly between the platforms `lane` serves that have some (core.fairness),
    each with its depends_on (its slots are fired waiting for them)."""
    query = demand_query(dialect, now, horizon, limit, lane)
    demands = [_demand(row) for row in (await conn.execute(query)).all()]
    seen = {d.platform_id: min(d.due, limit) for d in demands}
    split = fairness.shares(lane.capped(demands), limit)
    if not split:
        return DueClaim([], seen, 0)
    if dialect.lateral_joins and len(split) > 1:
        found = (await conn.execute(shares_query(now, horizon, split))).all()
    else:  # one platform due (the usual case), or one writer (no lock to take)
        found = []
        for platform_id, share in split.items():
            query = due_jobs_query(now, horizon, share).where(jobs.c.platform_id == platform_id)
            found += (await conn.execute(query)).all()
    claimed = [job_from_row(row) for row in found]
    skipped = sum(split.values()) - len(claimed)
    return DueClaim(await with_dependencies(conn, dialect, claimed), seen, skipped)


def _demand(row: Row[Any]) -> fairness.Demand:
    r = row._mapping
    return fairness.Demand(
        str(r["platform_id"]), int(r["due"]), as_utc(r["earliest"]), int(r["weight"])
    )


async def outstanding(
    conn: AsyncConnection, dialect: Dialect, job_ids: Sequence[str]
) -> dict[str, Outstanding]:
    """Unfinished executions of these jobs, for their overlap policies. One
    waiting for its dependencies is a run not started yet: it counts as
    pending (or as buffered, behind the running one). Backfilled ones are
    not counted: they run late on purpose, beside the live slots, and a live
    slot neither waits for them nor skips for them."""
    if not job_ids:
        return {}
    buffered = is_waiting(dialect)
    query = (
        select(executions.c.job_id, executions.c.status, buffered.label("buffered"), func.count())
        .where(
            executions.c.job_id.in_(job_ids),
            executions.c.status.in_(_UNFINISHED),
            _LIVE,
        )
        .group_by(executions.c.job_id, executions.c.status, buffered)
    )
    counts: dict[str, Counter[str]] = {}
    for job_id, status, is_buffered, count in (await conn.execute(query)).all():
        key = "buffered" if is_buffered else "running" if status == "running" else "pending"
        counts.setdefault(job_id, Counter())[key] += count
    return {job_id: Outstanding(**c) for job_id, c in counts.items()}


async def insert_slots(
    conn: AsyncConnection, dialect: Dialect, batch: Sequence[Execution]
) -> Counter[str]:
    """Inserts slot executions (the ticker's or a backfill's), silently
    dropping any slot that already has one (uq_job_executions_slot, on
    (job_id, scheduled_at) of schedule and backfill executions); returns how
    many were inserted per job."""
    return await insert_rows(conn, dialect, [execution_values(e) for e in batch])


async def insert_rows(
    conn: AsyncConnection, dialect: Dialect, rows: Sequence[dict[str, Any]]
) -> Counter[str]:
    """insert_slots of rows made already (store.rows.execution_values, and
    any other column of job_executions), all with the same keys."""
    if not rows:
        return Counter()
    if dialect.array_batches:
        return Counter(await bulk_postgres.insert_slots(conn, rows))
    statement = dialect.insert_or_skip(
        executions, ["job_id", "scheduled_at"], text(SLOT_TRIGGERS)
    ).returning(executions.c.job_id)
    result = await conn.execute(statement, rows)
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


async def move_jobs(
    conn: AsyncConnection, dialect: Dialect, moves: Sequence[JobMove], added: Counter[str]
) -> None:
    """Each job's next_run, last_run, status and counters, in one statement
    (an executemany where batches are not arrays); `added` counts the
    executions recorded for each job."""
    if not moves:
        return
    rows = [_move_params(move, added[move.job_id]) for move in moves]
    if dialect.array_batches:
        await bulk_postgres.move_jobs(conn, rows)
    else:
        await conn.execute(_JOB_MOVED, rows)


def _move_params(move: JobMove, added: int) -> dict[str, Any]:
    return {
        "b_id": move.job_id,
        "b_next_run": move.next_run,
        "b_last_run": move.last_run,
        "b_runs_count": move.runs_count,
        "b_status": move.status.value,
        "b_completed_at": move.completed_at,
        "b_updated_at": move.updated_at,
        "b_added": added,
    }


async def cancel_outstanding(
    conn: AsyncConnection, job_ids: Sequence[str], now: datetime
) -> list[str]:
    """CANCEL_PREVIOUS: cancels the jobs' unfinished executions, backfilled
    ones excepted (see `outstanding`); returns the ids of those that were
    running, whose workers must be told."""
    if not job_ids:
        return []
    running = await conn.execute(
        select(executions.c.id).where(
            executions.c.job_id.in_(job_ids), executions.c.status == "running", _LIVE
        )
    )
    running_ids = list(running.scalars().all())
    await conn.execute(
        update(executions)
        .where(
            executions.c.job_id.in_(job_ids),
            executions.c.status.in_(_UNFINISHED),
            _LIVE,
        )
        .values(
            status=ExecutionStatus.CANCELLED.value,
            completed_at=now,
            error="cancelled: a newer slot started (overlap policy cancel_previous)",
        )
    )
    return running_ids


# When the ticker has work next: the first entry of ix_scheduled_jobs_due.
EARLIEST_NEXT_RUN = select(func.min(jobs.c.next_run)).where(_ACTIVE)
# When a paused job resumes next: the first entry of ix_scheduled_jobs_resume.
# A job has a paused_until only while it is paused; the status is checked all
# the same, as resume_due_query does, so the two can never disagree (a row
# one names and the other skips would keep the ticker from sleeping).
EARLIEST_RESUME = select(func.min(jobs.c.paused_until)).where(
    _PAUSED, jobs.c.paused_until.is_not(None)
)


# Both in one round trip: the ticker reads them before every sleep.
_EARLIEST = select(EARLIEST_NEXT_RUN.scalar_subquery(), EARLIEST_RESUME.scalar_subquery())


async def earliest(
    conn: AsyncConnection, dialect: Dialect, excluding: frozenset[str] = frozenset()
) -> tuple[datetime | None, datetime | None]:
    """When the ticker has work next: (EARLIEST_NEXT_RUN, EARLIEST_RESUME),
    the next run among the platforms but `excluding` (the bursting ones,
    whose jobs the bulk lane fires)."""
    query = _EARLIEST
    if excluding:
        query = select(
            _earliest_beside(dialect, excluding).scalar_subquery(),
            EARLIEST_RESUME.scalar_subquery(),
        )
    next_run, resume = (await conn.execute(query)).one()
    return _utc(next_run), _utc(resume)


def _earliest_beside(dialect: Dialect, excluding: frozenset[str]) -> Select[Any]:
    """The earliest next_run of the platforms but `excluding`. With LATERAL
    (Postgres), the first entry of ix_scheduled_jobs_platform_due for each
    platform: the bursting platforms' thousands of due jobs are not walked
    through to find the others' first."""
    if dialect.lateral_joins:
        first = (
            select(jobs.c.next_run)
            .where(jobs.c.platform_id == platforms.c.id, _ACTIVE)
            .order_by(jobs.c.next_run)
            .limit(1)
            .correlate(platforms)
            .scalar_subquery()
        )
        others = ~one_of(platforms.c.id, sorted(excluding), dialect.uuid_arrays)
        return select(func.min(first)).select_from(platforms).where(others)
    others = ~one_of(jobs.c.platform_id, sorted(excluding), dialect.uuid_arrays)
    return select(func.min(jobs.c.next_run)).where(_ACTIVE, others)


async def due_count(conn: AsyncConnection, by: datetime, cap: int) -> int:
    """Active jobs with next_run by `by`, counted up to `cap` (a range of
    ix_scheduled_jobs_due that stops there)."""
    capped = select(jobs.c.id).where(_ACTIVE, jobs.c.next_run <= by).limit(cap).subquery()
    return int((await conn.execute(select(func.count()).select_from(capped))).scalar_one())


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def resume_due_query(now: datetime, limit: int) -> Select[Any]:
    """Paused jobs whose `until` has come, earliest first, at most `limit`,
    locked for this transaction.

    Once across replicas: SKIP LOCKED leaves a job another replica is
    resuming to it, and a replica whose snapshot still saw the job paused
    re-reads the row it locks (Postgres re-checks the WHERE of a FOR UPDATE
    on the row's latest version), finds it active, and skips it. SQLite has
    one writer: the second transaction reads after the first committed.
    ix_scheduled_jobs_resume serves the WHERE and the ORDER BY.
    """
    return (
        select(jobs)
        .where(_PAUSED, jobs.c.paused_until <= now)
        .order_by(jobs.c.paused_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


async def claim_resume_due(conn: AsyncConnection, now: datetime, limit: int) -> list[Job]:
    """Claims paused jobs whose `until` has come (`resume_due_query`)."""
    query = resume_due_query(now, limit)
    return [job_from_row(row) for row in (await conn.execute(query)).all()]
