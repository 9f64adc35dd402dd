"""The gate's SQL (store.gate): lock waiting executions, read what their
dependencies did, write what was decided. Every statement runs inside the one
transaction of a pass."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    func,
    literal_column,
    not_,
    null,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.core.dependencies import Miss, Release, SlotSeen, Upstream, WaitingSlot
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger, JobStatus
from cronstream_server.store.buffered import FAR_FUTURE, is_waiting
from cronstream_server.store.clock import as_utc
from cronstream_server.store.database import Dialect
from cronstream_server.store.tables import (
    job_dependencies,
    job_executions,
    scheduled_jobs,
)

executions = job_executions
jobs = scheduled_jobs
edges = job_dependencies

# A literal, not a parameter: only then can the planner match the predicate
# of ix_job_executions_waiting in every plan (see store.queries_dispatch).
IS_WAITING = executions.c.status == literal_column("'waiting'")
# The rows of ix_job_executions_waiting, its predicate (store.tables) as
# literals, column by column (the jobs joined have a status too): the slots
# waiting for their dependencies. Backfilled ones wait without a deadline,
# for their release (store.queries_release).
_WITH_DEADLINE = and_(IS_WAITING, executions.c.wait_deadline.is_not(None))
# What counts as a slot of a dependency: its schedule's and its backfills.
_SLOT_TRIGGERS = (ExecutionTrigger.SCHEDULE.value, ExecutionTrigger.BACKFILL.value)
_UNFINISHED = ("pending", "running", "waiting")


def waiting_query(limit: int, after: tuple[datetime, str] | None) -> Select[Any]:
    """Waiting executions with their job's name and policy, nearest deadline
    first after `after`, locked for the pass.

    SKIP LOCKED: an execution another replica's gate judges right now is
    left to it (and one CancelExecution holds is looked at next time). Only
    the executions are locked, not their jobs: a tick or an update of the
    job goes on meanwhile. ix_job_executions_waiting holds these rows alone."""
    query = (
        select(
            executions.c.id,
            executions.c.platform_id,
            executions.c.job_id,
            executions.c.handler_name,
            executions.c.scheduled_at,
            executions.c.due_at,
            executions.c.wait_deadline,
            executions.c.waiting_for,
            jobs.c.name,
            jobs.c.alert_on_missed,
        )
        .select_from(executions.join(jobs, jobs.c.id == executions.c.job_id))
        .where(_WITH_DEADLINE)
        .order_by(executions.c.wait_deadline, executions.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=executions)
    )
    if after is not None:
        query = query.where(tuple_(executions.c.wait_deadline, executions.c.id) > after)
    return query


async def lock_waiting(
    conn: AsyncConnection, limit: int, after: tuple[datetime, str] | None
) -> list[WaitingSlot]:
    rows = (await conn.execute(waiting_query(limit, after))).all()
    return [
        WaitingSlot(
            id=str(r.id),
            platform_id=str(r.platform_id),
            job_id=str(r.job_id),
            job_name=r.name,
            handler_name=r.handler_name,
            scheduled_at=r.scheduled_at,
            due_at=r.due_at,
            wait_deadline=r.wait_deadline,
            waiting_for=tuple(r.waiting_for or ()),
            buffered=as_utc(r.due_at) == FAR_FUTURE,
            alert_on_missed=r.alert_on_missed,
        )
        for r in rows
    ]


async def busy_runners(conn: AsyncConnection, dialect: Dialect, job_ids: Sequence[str]) -> set[str]:
    """Of these jobs, those with an unfinished live execution that is not
    buffered (backfilled ones are outside the overlap policies)."""
    if not job_ids:
        return set()
    query = select(executions.c.job_id).where(
        executions.c.job_id.in_(sorted(set(job_ids))),
        executions.c.status.in_(_UNFINISHED),
        executions.c.trigger != literal_column("'backfill'"),
        not_(is_waiting(dialect)),
    )
    return {str(job_id) for job_id in (await conn.execute(query)).scalars()}


class Slot(Protocol):
    """What upstream_of needs of a waiting execution (core.dependencies'
    WaitingSlot, core.release's BackfillSlot)."""

    @property
    def id(self) -> str: ...
    @property
    def job_id(self) -> str: ...
    @property
    def scheduled_at(self) -> datetime: ...


async def upstream_of(conn: AsyncConnection, slots: Sequence[Slot]) -> dict[str, list[Upstream]]:
    """Each slot's dependencies as they stand, by execution id."""
    if not slots:
        return {}
    query = (
        select(edges.c.job_id, edges.c.depends_on_id, jobs.c.name, jobs.c.status, jobs.c.next_run)
        .join(jobs, jobs.c.id == edges.c.depends_on_id)
        .where(edges.c.job_id.in_(sorted({s.job_id for s in slots})))
        .order_by(edges.c.job_id, edges.c.position)
    )
    named: defaultdict[str, list[Any]] = defaultdict(list)
    for row in (await conn.execute(query)).all():
        named[str(row.job_id)].append(row)
    instants: defaultdict[str, set[datetime]] = defaultdict(set)
    for slot in slots:
        for row in named[slot.job_id]:
            instants[str(row.depends_on_id)].add(slot.scheduled_at)
    seen = await _slots_seen(conn, instants)
    return {
        slot.id: [
            Upstream(
                job_id=str(row.depends_on_id),
                name=row.name,
                status=JobStatus(row.status),
                next_run=row.next_run,
                latest=seen.get((str(row.depends_on_id), slot.scheduled_at)),
            )
            for row in named[slot.job_id]
        ]
        for slot in slots
    }


async def _slots_seen(
    conn: AsyncConnection, instants: Mapping[str, set[datetime]]
) -> dict[tuple[str, datetime], SlotSeen]:
    """(dependency, instant) -> its latest slot at or before the instant. One
    query per dependency reads its slots from the latest at or before the
    earliest instant up to the latest instant (served by the index on
    (job_id, scheduled_at) of schedule slots, or the job's executions)."""
    found: dict[tuple[str, datetime], SlotSeen] = {}
    for job_id, ats in instants.items():
        of_job = (executions.c.job_id == job_id, executions.c.trigger.in_(_SLOT_TRIGGERS))
        floor = (
            select(func.max(executions.c.scheduled_at))
            .where(*of_job, executions.c.scheduled_at <= min(ats))
            .scalar_subquery()
        )
        query = select(executions.c.scheduled_at, executions.c.status).where(
            *of_job,
            executions.c.scheduled_at <= max(ats),
            executions.c.scheduled_at >= func.coalesce(floor, min(ats)),
        )
        rows = [(as_utc(at), ExecutionStatus(status)) for at, status in await conn.execute(query)]
        for at in ats:
            latest = _latest(rows, at)
            if latest is not None:
                found[(job_id, at)] = latest
    return found


def _latest(rows: Sequence[tuple[datetime, ExecutionStatus]], at: datetime) -> SlotSeen | None:
    """The latest slot at or before `at`; of a schedule and a backfill
    execution of one instant, a SUCCESS if either is."""
    before = [(t, s is ExecutionStatus.SUCCESS, s) for t, s in rows if t <= at]
    if not before:
        return None
    t, _, status = max(before)
    return SlotSeen(t, status)


_RELEASE = (
    update(executions)
    .where(executions.c.id == bindparam("b_id"), IS_WAITING)
    .values(status="pending", due_at=bindparam("b_due_at"), waiting_for=null())
)
_MISS = (
    update(executions)
    .where(executions.c.id == bindparam("b_id"), IS_WAITING)
    .values(
        status="skipped",
        completed_at=bindparam("b_now"),
        error=bindparam("b_error"),
        waiting_for=null(),
    )
)
_STILL = (
    update(executions)
    .where(executions.c.id == bindparam("b_id"), IS_WAITING)
    .values(waiting_for=bindparam("b_waiting_for"))
)


async def release(conn: AsyncConnection, released: Sequence[Release]) -> None:
    if released:
        await conn.execute(_RELEASE, [{"b_id": r.slot.id, "b_due_at": r.due_at} for r in released])


async def miss(conn: AsyncConnection, missed: Sequence[Miss], now: datetime) -> None:
    if missed:
        rows = [{"b_id": m.slot.id, "b_now": now, "b_error": m.reason} for m in missed]
        await conn.execute(_MISS, rows)


async def still_waiting(
    conn: AsyncConnection, waiting: Sequence[tuple[WaitingSlot, tuple[str, ...]]]
) -> None:
    if waiting:
        rows = [{"b_id": s.id, "b_waiting_for": list(ids) or None} for s, ids in waiting]
        await conn.execute(_STILL, rows)
