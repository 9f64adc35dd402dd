"""ExecutionStore on SQL: batched inserts, reads, locked transitions, logs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, null, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger
from cronstream_server.core.errors import NotFound
from cronstream_server.core.executions import Execution, ExecutionLog
from cronstream_server.core.paging import PageRequest
from cronstream_server.core.ports import ExecutionFilter
from cronstream_server.store.buffered import release_buffered
from cronstream_server.store.database import dialect_of
from cronstream_server.store.errors import database_errors, is_foreign_key_violation
from cronstream_server.store.owned import get_owned, rewrite
from cronstream_server.store.paging import keyset_page, split_page
from cronstream_server.store.rows import execution_from_row, execution_values, log_from_row
from cronstream_server.store.tables import job_execution_logs, job_executions, scheduled_jobs

executions = job_executions
logs = job_execution_logs


class SqlExecutionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    async def insert_many(self, batch: Sequence[Execution]) -> None:
        """Inserts pending executions in one statement (manual and event runs;
        the ticker's slot inserts go through its own claim transaction)."""
        if not batch:
            return
        try:
            async with database_errors(), self._engine.begin() as conn:
                await insert_executions(conn, batch)
        except sa_exc.IntegrityError as error:
            if is_foreign_key_violation(error):  # the job was deleted meanwhile
                raise NotFound("job", batch[0].job_id or "") from error
            raise

    async def get(self, platform_id: str, execution_id: str) -> Execution:
        async with database_errors(), self._engine.connect() as conn:
            return await _get(conn, platform_id, execution_id, lock=False)

    async def list_executions(
        self, platform_id: str, where: ExecutionFilter, page: PageRequest
    ) -> tuple[list[Execution], Execution | None]:
        clauses: list[ColumnElement[bool]] = [executions.c.platform_id == platform_id]
        if where.job_id is not None:
            clauses.append(executions.c.job_id == where.job_id)
        if where.statuses:
            clauses.append(executions.c.status.in_([s.value for s in where.statuses]))
        query = keyset_page(
            select(executions).where(*clauses),
            executions.c.created_at,
            executions.c.id,
            page,
            newest_first=True,
        )
        async with database_errors(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return split_page([execution_from_row(row) for row in rows], page.size)

    async def update(
        self, platform_id: str, execution_id: str, change: Callable[[Execution], Execution]
    ) -> Execution:
        """Applies `change` under a row lock and stores the result. An execution
        that leaves pending/running frees its job's BUFFER_ONE waiting slot."""
        async with database_errors(), self._engine.begin() as conn:
            before = await _get(conn, platform_id, execution_id, lock=True)
            after = change(before)
            await rewrite(conn, executions, execution_id, execution_values(after))
            live = (
                after.trigger is not ExecutionTrigger.BACKFILL
            )  # see Settlement.releases_buffered
            if after.job_id and live and after.status.is_final and not before.status.is_final:
                released_at = after.completed_at or after.created_at
                await release_buffered(conn, self._dialect, [after.job_id], released_at)
        return after

    async def list_logs(
        self, platform_id: str, execution_id: str, page: PageRequest
    ) -> tuple[list[ExecutionLog], int | None]:
        """An execution's log lines, oldest first, keyset-paged on the line id;
        the second value is the last line id when more follow."""
        await self.get(platform_id, execution_id)
        query = select(logs).where(logs.c.execution_id == execution_id)
        if page.after is not None:
            query = query.where(logs.c.id > int(page.after[0]))
        query = query.order_by(logs.c.id).limit(page.size + 1)
        async with database_errors(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items, last = split_page(rows, page.size)
        return [log_from_row(row) for row in items], (last.id if last is not None else None)


async def insert_executions(conn: AsyncConnection, batch: Sequence[Execution]) -> None:
    """Inserts executions and counts them on their jobs, in the caller's transaction."""
    if not batch:
        return
    await conn.execute(executions.insert(), [execution_values(e) for e in batch])
    per_job = Counter(e.job_id for e in batch if e.job_id is not None)
    for job_id, count in sorted(per_job.items()):  # one lock order for every writer
        await conn.execute(
            update(scheduled_jobs)
            .where(scheduled_jobs.c.id == job_id)
            .values(executions_count=scheduled_jobs.c.executions_count + count)
        )


async def cancel_pending_of_job(
    conn: AsyncConnection, platform_id: str, job_id: str, now: datetime
) -> int:
    """Cancels a job's executions that have not started (pending, or waiting
    for its dependencies), in the caller's transaction; returns how many."""
    result = await conn.execute(
        update(executions)
        .where(
            executions.c.platform_id == platform_id,
            executions.c.job_id == job_id,
            executions.c.status.in_(_NOT_STARTED),
        )
        .values(
            status=ExecutionStatus.CANCELLED.value,
            completed_at=now,
            next_retry_at=None,
            waiting_for=null(),
            error=JOB_CANCELLED,
        )
    )
    return result.rowcount


_NOT_STARTED = (ExecutionStatus.PENDING.value, ExecutionStatus.WAITING.value)
# What a pending execution of a cancelled job says as its error.
JOB_CANCELLED = "job cancelled"


async def _get(
    conn: AsyncConnection, platform_id: str, execution_id: str, *, lock: bool
) -> Execution:
    row = await get_owned(conn, executions, platform_id, execution_id, "execution", lock=lock)
    return execution_from_row(row)
