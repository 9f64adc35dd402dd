"""The release's SQL (store.gate, GateStore.release): the waiting backfilled
executions whose time and turn have come, and their move to PENDING. Every
statement runs inside the one transaction of a pass.

The index predicates (store.tables) are repeated word for word, as text:
SQLite uses a partial index only when the query names its predicate, and a
literal lets Postgres match it in every plan, prepared or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, null, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.core.release import BackfillSlot
from cronstream_server.store.tables import BACKFILL_OPEN, RELEASE_ALLOW, job_executions

executions = job_executions

_ALLOW = text(RELEASE_ALLOW)
_OPEN = text(BACKFILL_OPEN)
_COLUMNS = (
    executions.c.id,
    executions.c.platform_id,
    executions.c.job_id,
    executions.c.scheduled_at,
    executions.c.due_at,
    executions.c.status,
    executions.c.sequential,
    executions.c.waiting_for,
)


def due_allow_query(now: datetime, limit: int, after: tuple[datetime, str] | None) -> Select[Any]:
    """An ALLOW backfill's waiting executions released by `now`, earliest
    release first after `after`, locked for the pass: one range scan of
    ix_job_executions_release, which holds those rows alone.

    SKIP LOCKED: what another replica's pass releases right now is left to
    it. The release is an UPDATE of rows still WAITING, so were a row judged
    twice it would still go once."""
    query = (
        select(*_COLUMNS)
        .where(_ALLOW, executions.c.due_at <= now)
        .order_by(executions.c.due_at, executions.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if after is not None:
        query = query.where(tuple_(executions.c.due_at, executions.c.id) > after)
    return query


async def due_allow(
    conn: AsyncConnection, now: datetime, limit: int, after: tuple[datetime, str] | None
) -> list[BackfillSlot]:
    return [_slot(row) for row in (await conn.execute(due_allow_query(now, limit, after))).all()]


async def next_allow(conn: AsyncConnection, now: datetime) -> datetime | None:
    """The first release time after `now` of an ALLOW backfill's: one probe."""
    query = (
        select(executions.c.due_at)
        .where(_ALLOW, executions.c.due_at > now)
        .order_by(executions.c.due_at)
        .limit(1)
    )
    return (await conn.execute(query)).scalar()


_NIL = "00000000-0000-0000-0000-000000000000"
_EARLIEST_OPEN = (
    select(*_COLUMNS)
    .where(_OPEN, executions.c.job_id > bindparam("after"))
    .order_by(executions.c.job_id, executions.c.scheduled_at)
    .limit(1)
)


async def sequential_turns(conn: AsyncConnection, jobs: int) -> tuple[list[BackfillSlot], int]:
    """Of each job with an unfinished backfilled execution (at most `jobs`
    jobs), its earliest such execution when it is a sequential one still
    waiting: the only one of its job a BUFFER_ONE backfill may release. Not
    locked: its release is an UPDATE of a row still WAITING. Returns those,
    and how many jobs with an unfinished backfilled execution it saw.

    A skip scan of ix_job_executions_backfill_open, one probe per job (the
    first entry after the last job's is the next job's earliest instant),
    so a pass costs the jobs backfilling, not their executions."""
    turns: list[BackfillSlot] = []
    seen = 0
    after = _NIL  # below every job's id
    for _ in range(jobs):
        row = (await conn.execute(_EARLIEST_OPEN, {"after": after})).first()
        if row is None:
            break
        seen += 1
        after = str(row.job_id)
        if row.status == "waiting" and row.sequential:
            turns.append(_slot(row))
    return turns, seen


def _slot(row: Any) -> BackfillSlot:
    return BackfillSlot(
        id=str(row.id),
        platform_id=str(row.platform_id),
        job_id=str(row.job_id),
        scheduled_at=row.scheduled_at,
        due_at=row.due_at,
        sequential=bool(row.sequential),
        waiting_for=tuple(row.waiting_for or ()),
    )


_RELEASE = (
    update(executions)
    .where(executions.c.id == bindparam("b_id"), executions.c.status == "waiting")
    .values(status="pending", due_at=bindparam("b_due_at"), waiting_for=null())
)
_STILL = (
    update(executions)
    .where(executions.c.id == bindparam("b_id"), executions.c.status == "waiting")
    .values(waiting_for=bindparam("b_waiting_for"))
)


async def release(conn: AsyncConnection, released: Sequence[BackfillSlot], now: datetime) -> None:
    """To PENDING, due `now` (when it went, not when it might have: a claim
    orders it among live slots by the time it became dispatchable)."""
    if released:
        await conn.execute(_RELEASE, [{"b_id": s.id, "b_due_at": now} for s in released])


async def still_waiting(
    conn: AsyncConnection, waiting: Sequence[tuple[BackfillSlot, tuple[str, ...]]]
) -> None:
    if waiting:
        rows = [{"b_id": s.id, "b_waiting_for": list(ids) or None} for s, ids in waiting]
        await conn.execute(_STILL, rows)
