"""BackfillStore on SQL: one chunk of a backfill's instants per transaction.

A chunk's rows are built in a worker thread (`asyncio.to_thread`): a few
hundred executions cost tens of milliseconds of Python, which on the event
loop would delay every live firing of the replica as long."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.core.jobs import Job
from cronstream_server.core.ports import MakeBackfill
from cronstream_server.store.database import dialect_of
from cronstream_server.store.errors import database_errors
from cronstream_server.store.owned import get_owned
from cronstream_server.store.queries_ticker import insert_rows
from cronstream_server.store.rows import execution_values, job_from_row
from cronstream_server.store.tables import SLOT_TRIGGERS, job_executions, scheduled_jobs

executions = job_executions
jobs = scheduled_jobs


class SqlBackfillStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    async def add_backfill(
        self,
        platform_id: str,
        job_id: str,
        instants: Sequence[datetime],
        make: MakeBackfill,
        sequential: bool,
    ) -> int:
        """BackfillStore.add_backfill."""
        async with database_errors(), self._engine.begin() as conn:
            row = await get_owned(conn, jobs, platform_id, job_id, "job", lock=True)
            taken = await _taken(conn, job_id, instants) if instants else set()
            fresh = [at for at in instants if at not in taken]
            rows = await asyncio.to_thread(_rows, make, job_from_row(row), fresh, sequential)
            stored = sum((await insert_rows(conn, self._dialect, rows)).values())
            if stored:
                await conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id)
                    .values(executions_count=jobs.c.executions_count + stored)
                )
        return stored


def _rows(
    make: MakeBackfill, job: Job, fresh: list[datetime], sequential: bool
) -> list[dict[str, Any]]:
    return [execution_values(e) | {"sequential": sequential} for e in make(job, fresh)]


async def _taken(conn: AsyncConnection, job_id: str, instants: Sequence[datetime]) -> set[datetime]:
    """The job's slot instants from the first of `instants` to the last that
    already have an execution: a range scan of uq_job_executions_slot, whose
    predicate the query repeats word for word so that SQLite's planner, too,
    may use it."""
    query = select(executions.c.scheduled_at).where(
        executions.c.job_id == job_id,
        text(SLOT_TRIGGERS),
        executions.c.scheduled_at >= instants[0],
        executions.c.scheduled_at <= instants[-1],
    )
    return set((await conn.execute(query)).scalars())
