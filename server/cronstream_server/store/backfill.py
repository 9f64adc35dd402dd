"""BackfillStore on SQL: one chunk of a backfill's instants per transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.core.backfill import Concurrency
from cronstream_server.core.ports import MakeBackfill
from cronstream_server.store.database import dialect_of
from cronstream_server.store.errors import database_errors
from cronstream_server.store.owned import get_owned
from cronstream_server.store.queries_ticker import insert_slots
from cronstream_server.store.rows import job_from_row
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
        concurrency: Concurrency | None,
    ) -> int:
        """BackfillStore.add_backfill. `concurrency` is not stored yet: the
        execution's concurrency key arrives with concurrency keys (issue 16),
        and until then a BUFFER_ONE backfill is released as an ALLOW one is."""
        async with database_errors(), self._engine.begin() as conn:
            row = await get_owned(conn, jobs, platform_id, job_id, "job", lock=True)
            taken = await _taken(conn, job_id, instants) if instants else set()
            batch = make(job_from_row(row), [at for at in instants if at not in taken])
            stored = sum((await insert_slots(conn, self._dialect, batch)).values())
            if stored:
                await conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id)
                    .values(executions_count=jobs.c.executions_count + stored)
                )
        return stored


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
