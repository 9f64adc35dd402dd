"""Slots fired ahead, withdrawn when their job changes before their instants
(JobStore.update_job and cancel_job say so; the ticker fires them, see
TickerStore.tick)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.core.firing import unfire
from cronstream_server.core.jobs import Job
from cronstream_server.store.clock import as_utc, database_now
from cronstream_server.store.database import Dialect
from cronstream_server.store.tables import job_executions, scheduled_jobs

executions = job_executions
_SCHEDULED = executions.c.trigger == literal_column("'schedule'")


async def withdraw_fired_ahead(
    conn: AsyncConnection, dialect: Dialect, job: Job, now: datetime | None = None
) -> Job:
    """Deletes the job's executions fired ahead whose instants have not come
    (still pending or waiting for their dependencies, so no worker has
    them) and returns the job as if they had
    never been fired (core.firing.unfire). Runs under the job's row lock,
    before a pause, an edit or a cancel: a paused job must not run at the
    next instant, and an edited one must run it with its new spec. A slot
    cancelled by hand stays cancelled: only pending executions are withdrawn.

    Every tick leaves last_run on the latest slot it fired, so a job has
    slots fired ahead only while its last_run is still to come: any other
    change costs no more than reading the clock (`now`, when the caller
    read it already: a bulk change reads it once for all its jobs)."""
    if job.last_run is None:
        return job
    now = now or await database_now(conn, dialect)
    if job.last_run <= now:
        return job
    withdrawn = await conn.execute(
        delete(executions)
        .where(
            executions.c.job_id == job.id,
            _SCHEDULED,
            executions.c.status.in_([literal_column("'pending'"), literal_column("'waiting'")]),
            executions.c.scheduled_at > now,
        )
        .returning(executions.c.scheduled_at)
    )
    slots = [as_utc(at) for at in withdrawn.scalars().all()]
    if not slots:
        return job
    # The job's counter counted them; a rewrite of the job leaves counters
    # alone (store.rows.job_values), so it is corrected here.
    await conn.execute(
        update(scheduled_jobs)
        .where(scheduled_jobs.c.id == job.id)
        .values(executions_count=scheduled_jobs.c.executions_count - len(slots))
    )
    before = await conn.execute(
        select(func.max(executions.c.scheduled_at)).where(
            executions.c.job_id == job.id, _SCHEDULED, executions.c.scheduled_at < min(slots)
        )
    )
    found = before.scalar_one_or_none()
    return unfire(job, slots, None if found is None else as_utc(found))
