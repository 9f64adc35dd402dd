"""JobStore on SQL: create, read, list, and locked read-modify-write of jobs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.core.dependencies import CHECK_ONE_JOB, GraphCheck
from cronstream_server.core.enums import JobStatus
from cronstream_server.core.errors import NotFound
from cronstream_server.core.executions import Execution
from cronstream_server.core.ids import is_valid_id
from cronstream_server.core.jobs import Job
from cronstream_server.core.paging import PageRequest
from cronstream_server.core.ports import JobFilter
from cronstream_server.core.selection import BulkChange, JobSelector
from cronstream_server.store.database import Dialect, dialect_of
from cronstream_server.store.dependencies import lock_graph, store_dependencies, with_dependencies
from cronstream_server.store.errors import database_errors, is_unique_violation
from cronstream_server.store.executions import cancel_pending_of_job, insert_executions
from cronstream_server.store.fired_ahead import withdraw_fired_ahead
from cronstream_server.store.job_filters import has_all_tags, name_or_id_matches
from cronstream_server.store.owned import get_owned, rewrite
from cronstream_server.store.paging import keyset_page, split_page
from cronstream_server.store.rows import job_from_row, job_values
from cronstream_server.store.selected import change_selected
from cronstream_server.store.tables import scheduled_jobs

jobs = scheduled_jobs

# How often a batch is retried after another call took one of its request_ids
# meanwhile: each retry sees every key committed before it began.
_CLASH_RETRIES = 3


class SqlJobStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    async def create_job(self, job: Job, request_id: str | None) -> tuple[Job, bool]:
        """Inserts `job`; with a `request_id` the platform used before, returns
        that earlier job instead. The flag says whether `job` was created."""
        [outcome] = await self.create_jobs([(job, request_id)])
        return outcome

    async def create_jobs(
        self, batch: Sequence[tuple[Job, str | None]], graph: GraphCheck = CHECK_ONE_JOB
    ) -> list[tuple[Job, bool]]:
        """Inserts the jobs of one platform in one transaction, with one
        executemany INSERT: all of them or none. A job whose request_id the
        platform used before is not inserted; the earlier job takes its place.
        The new jobs' depends_on pass `graph` first. Returns (job, created) in
        the order given."""
        if not batch:
            return []
        platform_id = batch[0][0].platform_id
        keys = [request_id for _, request_id in batch if request_id is not None]
        # A clash on (platform_id, request_id) means a concurrent call with one
        # of our keys committed after our look-up; the next attempt finds its job.
        retries = _CLASH_RETRIES if keys else 0
        while True:
            try:
                return await self._insert_new(platform_id, batch, keys, graph)
            except sa_exc.IntegrityError as error:
                if retries == 0 or not is_unique_violation(error):
                    raise
                retries -= 1

    async def _insert_new(
        self,
        platform_id: str,
        batch: Sequence[tuple[Job, str | None]],
        keys: list[str],
        graph: GraphCheck,
    ) -> list[tuple[Job, bool]]:
        async with database_errors(), self._engine.begin() as conn:
            if any(job.spec.depends_on for job, _ in batch):
                await lock_graph(conn, self._dialect, platform_id)
            earlier = await self._by_request_id(conn, platform_id, keys) if keys else {}
            outcome = [_earlier_or_new(job, request_id, earlier) for job, request_id in batch]
            fresh = [
                {**job_values(job), "request_id": request_id}
                for (job, created), (_, request_id) in zip(outcome, batch, strict=True)
                if created
            ]
            if fresh:
                await conn.execute(jobs.insert(), fresh)
            waits = [(i, j) for i, (j, new) in enumerate(outcome) if new and j.spec.depends_on]
            await store_dependencies(conn, waits, graph, fresh=True)
        return outcome

    async def get_job(self, platform_id: str, job_id: str) -> Job:
        async with database_errors(), self._engine.connect() as conn:
            return await _get(conn, self._dialect, platform_id, job_id, lock=False)

    async def list_jobs(
        self, platform_id: str, where: JobFilter, page: PageRequest
    ) -> tuple[list[Job], Job | None]:
        query = keyset_page(
            select(jobs).where(jobs.c.platform_id == platform_id, *self._filters(where)),
            jobs.c.created_at,
            jobs.c.id,
            page,
            newest_first=True,
        )
        async with database_errors(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            found = [job_from_row(row) for row in rows]
            return split_page(await with_dependencies(conn, self._dialect, found), page.size)

    async def run_job(
        self, platform_id: str, job_id: str, make: Callable[[Job], Execution]
    ) -> Execution:
        async with database_errors(), self._engine.begin() as conn:
            # Locked: the insert counts the execution on the job row, and an
            # update or delete of the job waits until it is stored.
            job = await _get(conn, self._dialect, platform_id, job_id, lock=True)
            execution = make(job)
            await insert_executions(conn, [execution])
        return execution

    async def count_jobs(self, platform_id: str) -> int:
        query = select(func.count()).select_from(jobs).where(jobs.c.platform_id == platform_id)
        async with database_errors(), self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def update_job(
        self,
        platform_id: str,
        job_id: str,
        change: Callable[[Job], Job],
        graph: GraphCheck | None = None,
    ) -> tuple[Job, Job]:
        async with database_errors(), self._engine.begin() as conn:
            if graph is not None:  # before the job's row lock (store.dependencies)
                await lock_graph(conn, self._dialect, platform_id)
            before, after = await _update(conn, self._dialect, platform_id, job_id, change)
            if after.spec.depends_on != before.spec.depends_on:
                if graph is None:
                    raise AssertionError("depends_on changed without a graph check")
                await store_dependencies(conn, [(0, after)], graph, fresh=False)
            return before, after

    async def cancel_job(
        self, platform_id: str, job_id: str, change: Callable[[Job], Job], now: datetime
    ) -> Job:
        async with database_errors(), self._engine.begin() as conn:
            _, after = await _update(conn, self._dialect, platform_id, job_id, change)
            await cancel_pending_of_job(conn, platform_id, job_id, now)
        return after

    async def delete_job(self, platform_id: str, job_id: str) -> None:
        if is_valid_id(job_id):
            async with database_errors(), self._engine.begin() as conn:
                result = await conn.execute(
                    delete(jobs).where(jobs.c.id == job_id, jobs.c.platform_id == platform_id)
                )
            if result.rowcount:
                return
        raise NotFound("job", job_id)

    async def _by_request_id(
        self, conn: AsyncConnection, platform_id: str, keys: list[str]
    ) -> dict[str, Job]:
        """The platform's jobs created with these request_ids (its unique index serves this)."""
        query = select(jobs).where(jobs.c.platform_id == platform_id, jobs.c.request_id.in_(keys))
        rows = (await conn.execute(query)).all()
        found = await with_dependencies(conn, self._dialect, [job_from_row(row) for row in rows])
        return {row.request_id: job for row, job in zip(rows, found, strict=True)}

    async def change_selected(
        self,
        platform_id: str,
        selector: JobSelector,
        status: JobStatus,
        limit: int,
        change: Callable[[Job], Job],
    ) -> BulkChange:
        return await change_selected(
            self._engine, self._dialect, platform_id, selector, status, limit, change
        )

    def _filters(self, where: JobFilter) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if where.statuses:
            clauses.append(jobs.c.status.in_([s.value for s in where.statuses]))
        if where.types:
            clauses.append(jobs.c.type.in_([t.value for t in where.types]))
        if where.handler_name:
            clauses.append(jobs.c.handler_name == where.handler_name)
        if where.tags:
            clauses.append(has_all_tags(self._dialect, list(where.tags)))
        if where.healths:
            clauses.append(jobs.c.health.in_([h.value for h in where.healths]))
        if where.text:
            clauses.append(name_or_id_matches(where.text))
        return clauses


def _earlier_or_new(job: Job, request_id: str | None, earlier: dict[str, Job]) -> tuple[Job, bool]:
    found = earlier.get(request_id) if request_id is not None else None
    return (found, False) if found is not None else (job, True)


async def _update(
    conn: AsyncConnection,
    dialect: Dialect,
    platform_id: str,
    job_id: str,
    change: Callable[[Job], Job],
) -> tuple[Job, Job]:
    """`update_job` in the caller's transaction."""
    stored = await _get(conn, dialect, platform_id, job_id, lock=True)
    before = await withdraw_fired_ahead(conn, dialect, stored)
    after = change(before)
    if after is not stored:
        await rewrite(conn, jobs, job_id, job_values(after))
    return before, after


async def _get(
    conn: AsyncConnection, dialect: Dialect, platform_id: str, job_id: str, *, lock: bool
) -> Job:
    found = job_from_row(await get_owned(conn, jobs, platform_id, job_id, "job", lock=lock))
    [job] = await with_dependencies(conn, dialect, [found])
    return job
