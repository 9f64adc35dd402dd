"""Bulk changes of the jobs a selector names (JobStore.change_selected):
PauseJobs and ResumeJobs, each job changed as update_job changes one."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cronstream_server.core.enums import JobStatus
from cronstream_server.core.jobs import Job
from cronstream_server.core.selection import BulkChange, JobSelector
from cronstream_server.store.clock import database_now
from cronstream_server.store.database import Dialect
from cronstream_server.store.errors import database_errors
from cronstream_server.store.fired_ahead import withdraw_fired_ahead
from cronstream_server.store.job_filters import selected
from cronstream_server.store.owned import rewrite_many
from cronstream_server.store.rows import job_from_row, job_values
from cronstream_server.store.tables import scheduled_jobs

jobs = scheduled_jobs

# Jobs changed per transaction: a call of 10,000 holds at most this many row
# locks at once, and a failure undoes at most this many (each job is still
# wholly changed or untouched, which is all the contract promises).
CHUNK = 500

Change = Callable[[Job], Job]


async def change_selected(
    engine: AsyncEngine,
    dialect: Dialect,
    platform_id: str,
    selector: JobSelector,
    status: JobStatus,
    limit: int,
    change: Change,
) -> BulkChange:
    where = [*selected(dialect, platform_id, selector), jobs.c.status == status.value]
    changed: list[tuple[Job, Job]] = []
    while len(changed) < limit:
        want = min(CHUNK, limit - len(changed))
        chunk = await _change_chunk(engine, dialect, where, want, change)
        changed += chunk
        if len(chunk) < want:  # none left, or the rest are held by others
            break
    count = select(func.count()).select_from(jobs).where(*where)
    async with database_errors(), engine.connect() as conn:
        remaining = int((await conn.execute(count)).scalar_one())
    return BulkChange(changed, remaining)


async def _change_chunk(
    engine: AsyncEngine,
    dialect: Dialect,
    where: list[ColumnElement[bool]],
    want: int,
    change: Change,
) -> list[tuple[Job, Job]]:
    """One transaction: locks up to `want` matching jobs and changes each.

    In (created_at, id) order, the platform's listing index. SKIP LOCKED: a
    job the ticker is firing, or a single call is changing, right now is
    left for the next call (it counts in `remaining`), so a bulk call never
    waits on, or deadlocks with, other holders of job rows. `change` takes
    each job out of `status`, so the next chunk reads the next jobs."""
    query = (
        select(jobs)
        .where(*where)
        .order_by(jobs.c.created_at, jobs.c.id)
        .limit(want)
        .with_for_update(skip_locked=True)
    )
    async with database_errors(), engine.begin() as conn:
        rows = (await conn.execute(query)).all()
        if not rows:
            return []
        now = await database_now(conn, dialect)
        pairs: list[tuple[Job, Job]] = []
        for row in rows:
            before = await withdraw_fired_ahead(conn, dialect, job_from_row(row), now)
            pairs.append((before, change(before)))
        await rewrite_many(conn, jobs, [job_values(after) for _, after in pairs])
    return pairs
