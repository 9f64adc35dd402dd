"""Retention over real databases: finished executions past the retention go,
with their logs, in batches; nothing unfinished or recent ever does.

Rows are written with old finish times, measured on the database's clock,
instead of waiting for them to age.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from cronstream_server.config import Settings
from cronstream_server.core import executions as execution_rules
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger, JobStatus, LogLevel
from cronstream_server.core.ids import new_id
from cronstream_server.core.jobs import Job, JobSpec
from cronstream_server.core.retention import FINISHED
from cronstream_server.core.triggers import IntervalTrigger
from cronstream_server.engine.retention import Retention, RetentionSettings
from cronstream_server.server import start
from cronstream_server.store.admin import SqlAdminStore
from cronstream_server.store.clock import database_now
from cronstream_server.store.database import create_engine, dialect_of
from cronstream_server.store.jobs import SqlJobStore
from cronstream_server.store.retention import SqlRetentionStore, delete_batch
from cronstream_server.store.rows import execution_values
from cronstream_server.store.tables import (
    event_deliveries,
    job_execution_logs,
    job_executions,
    scheduled_jobs,
)
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ADMIN_KEY

WEEK = timedelta(days=7)
LOG_LINES = 2


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


class History:
    """A paused job and executions of it written straight into the database."""

    def __init__(self, engine: AsyncEngine, job: Job, now: datetime) -> None:
        self.engine = engine
        self.job = job
        self.now = now  # the database's clock when the history was made

    @classmethod
    async def make(cls, engine: AsyncEngine) -> History:
        platform = await SqlAdminStore(engine).create_platform(f"p-{new_id()[-8:]}")
        async with engine.connect() as conn:
            now = await database_now(conn, dialect_of(conn))
        trigger = IntervalTrigger(every=timedelta(hours=1), start_at=now + timedelta(days=365))
        job = Job(
            id=new_id(),
            platform_id=platform.id,
            spec=JobSpec(name="history", handler_name="h", trigger=trigger),
            status=JobStatus.PAUSED,
            created_by="test",
            created_at=now,
            updated_at=now,
        )
        created, _ = await SqlJobStore(engine).create_job(job, None)
        return cls(engine, created, now)

    async def add(
        self, status: ExecutionStatus, finished_ago: timedelta | None, count: int = 1
    ) -> list[str]:
        """`count` executions in `status`, finished `finished_ago` before the
        history's `now` (None: not finished), each with LOG_LINES log lines."""
        created = self.now - (finished_ago or timedelta()) - timedelta(minutes=1)
        completed = None if finished_ago is None else self.now - finished_ago
        rows = [
            replace(
                execution_rules.for_job(self.job, ExecutionTrigger.MANUAL, created, created),
                status=status,
                completed_at=completed,
            )
            for _ in range(count)
        ]
        logs = [
            {
                "execution_id": e.id,
                "timestamp": created,
                "level": LogLevel.INFO.value,
                "message": f"line {n}",
                "attempt": 1,
            }
            for e in rows
            for n in range(LOG_LINES)
        ]
        async with self.engine.begin() as conn:
            await conn.execute(job_executions.insert(), [execution_values(e) for e in rows])
            await conn.execute(job_execution_logs.insert(), logs)
        return [e.id for e in rows]

    async def execution_ids(self) -> set[str]:
        async with self.engine.connect() as conn:
            return set((await conn.execute(select(job_executions.c.id))).scalars())

    async def logged_ids(self) -> set[str]:
        async with self.engine.connect() as conn:
            query = select(job_execution_logs.c.execution_id).distinct()
            return set((await conn.execute(query)).scalars())


class CountingStore(SqlRetentionStore):
    """The real store, remembering what each batch deleted."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.batches: list[int] = []

    async def delete_finished(self, keep: timedelta, limit: int) -> int:
        deleted = await super().delete_finished(keep, limit)
        self.batches.append(deleted)
        return deleted


def retention(
    store: SqlRetentionStore, batch_size: int = 1_000, max_batches: int = 100
) -> Retention:
    settings = RetentionSettings(WEEK, batch_size=batch_size, pause=0.0, max_batches=max_batches)
    return Retention(store, settings)


async def test_finished_executions_past_the_retention_go_with_their_logs(
    engine: AsyncEngine,
) -> None:
    history = await History.make(engine)
    old = [i for status in FINISHED for i in await history.add(status, WEEK + timedelta(hours=1))]
    recent = [i for status in FINISHED for i in await history.add(status, timedelta(days=6))]
    # Unfinished executions are kept however old they are.
    unfinished = await history.add(ExecutionStatus.PENDING, None)
    unfinished += await history.add(ExecutionStatus.RUNNING, None)
    lifetime = {"executions_count": 12, "success_count": 2, "failure_count": 1}
    this_job = scheduled_jobs.c.id == history.job.id
    async with engine.begin() as conn:
        await conn.execute(scheduled_jobs.update().where(this_job).values(**lifetime))

    assert await retention(SqlRetentionStore(engine)).purge() == len(old) == len(FINISHED)

    kept = set(recent + unfinished)
    assert await history.execution_ids() == kept
    assert await history.logged_ids() == kept  # logs went with their executions (cascade)
    async with engine.connect() as conn:
        counters = select(*(scheduled_jobs.c[name] for name in lifetime)).where(this_job)
        assert (await conn.execute(counters)).one()._asdict() == lifetime  # the job keeps them
    assert await retention(SqlRetentionStore(engine)).purge() == 0  # idempotent


async def test_the_cutoff_is_the_database_clock_minus_the_retention(engine: AsyncEngine) -> None:
    history = await History.make(engine)
    # History.now is the database's clock of a moment ago: a minute either side
    # of now - retention lands on either side of the cutoff.
    past = await history.add(ExecutionStatus.SUCCESS, WEEK + timedelta(minutes=1))
    within = await history.add(ExecutionStatus.SUCCESS, WEEK - timedelta(minutes=1))
    assert await retention(SqlRetentionStore(engine)).purge() == 1
    assert await history.execution_ids() == set(within)
    assert not set(past) & await history.logged_ids()


async def test_a_backlog_goes_in_bounded_batches(engine: AsyncEngine) -> None:
    history = await History.make(engine)
    await history.add(ExecutionStatus.SUCCESS, timedelta(days=30), count=2_500)
    newest = await history.add(ExecutionStatus.FAILED, timedelta(days=1))
    store = CountingStore(engine)

    assert await retention(store, batch_size=1_000).purge() == 2_500
    assert store.batches == [1_000, 1_000, 500]
    assert await history.execution_ids() == set(newest)


async def test_a_pass_stops_after_max_batches(engine: AsyncEngine) -> None:
    history = await History.make(engine)
    await history.add(ExecutionStatus.SKIPPED, timedelta(days=30), count=350)
    store = CountingStore(engine)
    loop = retention(store, batch_size=100, max_batches=3)

    assert await loop.purge() == 300
    assert await loop.purge() == 50
    assert store.batches == [100, 100, 100, 50]


async def test_the_loop_works_through_a_backlog_without_waiting_for_the_next_pass(
    engine: AsyncEngine,
) -> None:
    history = await History.make(engine)
    await history.add(ExecutionStatus.SUCCESS, timedelta(days=30), count=450)
    store = CountingStore(engine)
    settings = RetentionSettings(WEEK, batch_size=100, pause=0.0, interval=3600, max_batches=2)
    loop = Retention(store, settings)
    loop.start()
    try:
        deadline = asyncio.get_running_loop().time() + 10  # far less than the hour between passes
        while await history.execution_ids():
            assert asyncio.get_running_loop().time() < deadline, "the loop waited for a pass"
            await asyncio.sleep(0.02)
    finally:
        await loop.stop()
    assert store.batches == [100, 100, 100, 100, 50]


async def test_replicas_deleting_side_by_side_neither_fail_nor_count_twice(
    engine: AsyncEngine, database_url: str
) -> None:
    history = await History.make(engine)
    await history.add(ExecutionStatus.SUCCESS, timedelta(days=30), count=3_000)
    replicas = [create_engine(database_url) for _ in range(3)]
    try:
        loops = [retention(SqlRetentionStore(e), batch_size=100) for e in replicas]
        deleted = await asyncio.gather(*(loop.purge() for loop in loops for _ in range(2)))
        # A pass that found another replica deleting (Postgres) ended early;
        # the next pass of any replica picks up what is left.
        rest = await loops[0].purge()
    finally:
        for replica in replicas:
            await replica.dispose()
    assert sum(deleted) + rest == 3_000
    assert await history.execution_ids() == set()


async def test_a_row_locked_by_another_transaction_is_skipped_not_waited_for(
    engine: AsyncEngine,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: there is no row lock to skip")
    history = await History.make(engine)
    [locked] = await history.add(ExecutionStatus.FAILED, timedelta(days=30))
    others = await history.add(ExecutionStatus.FAILED, timedelta(days=30), count=3)
    async with engine.connect() as holder, holder.begin():
        # What RetryExecution does while it brings the execution back to pending.
        await holder.execute(
            select(job_executions.c.id).where(job_executions.c.id == locked).with_for_update()
        )
        async with asyncio.timeout(5):
            assert await retention(SqlRetentionStore(engine)).purge() == len(others)
    assert await history.execution_ids() == {locked}


async def test_the_deletes_find_old_rows_through_the_completed_at_index(
    engine: AsyncEngine,
) -> None:
    """The batch reads what it deletes: a range of ix_job_executions_completed,
    not the table, nor the status index (nearly every row is finished)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the plan is Postgres's")
    history = await History.make(engine)
    await history.add(ExecutionStatus.SUCCESS, timedelta(days=1), count=3_000)
    await history.add(ExecutionStatus.SUCCESS, timedelta(days=30), count=30)
    statement = delete_batch(history.now - WEEK, 1_000).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE job_executions"))
        plan = "\n".join((await conn.execute(text(f"EXPLAIN {statement}"))).scalars())
    assert "Index Scan using ix_job_executions_completed" in plan, plan
    assert "Seq Scan" not in plan, plan


def _server_settings(database_url: str, keep: timedelta | None) -> Settings:
    return Settings(
        listen="127.0.0.1:0",
        database_url=database_url,
        admin_key=ADMIN_KEY,
        shutdown_grace_seconds=1.0,
        execution_retention=keep,
    )


def _retention_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "retention" and not t.done()]


async def test_the_server_runs_a_pass_as_it_starts(engine: AsyncEngine, database_url: str) -> None:
    history = await History.make(engine)
    old = await history.add(ExecutionStatus.CANCELLED, timedelta(days=8))
    running = await start(_server_settings(database_url, WEEK))
    try:
        assert len(_retention_tasks()) == 1
        deadline = asyncio.get_running_loop().time() + 10
        while set(old) & await history.execution_ids():
            assert asyncio.get_running_loop().time() < deadline, "the old execution is still there"
            await asyncio.sleep(0.05)
    finally:
        await running.stop()
    assert not _retention_tasks()


async def test_retention_off_keeps_everything(engine: AsyncEngine, database_url: str) -> None:
    history = await History.make(engine)
    ancient = await history.add(ExecutionStatus.SUCCESS, timedelta(days=3650))
    running = await start(_server_settings(database_url, None))
    try:
        assert not _retention_tasks()  # no loop at all, so nothing can delete
        await asyncio.sleep(0.2)
        assert await history.execution_ids() == set(ancient)
    finally:
        await running.stop()
    async with engine.connect() as conn:
        count = await conn.execute(select(func.count()).select_from(job_execution_logs))
        assert count.scalar_one() == LOG_LINES


async def test_event_delivery_records_go_with_the_retention(engine: AsyncEngine) -> None:
    # TriggerEvent's idempotency records would otherwise grow for ever: those
    # older than the retention go, the recent ones keep deduplicating.
    history = await History.make(engine)
    ages = {"week-old": WEEK + timedelta(minutes=1), "recent": WEEK - timedelta(minutes=1)}
    async with engine.begin() as conn:
        for request_id, age in ages.items():
            await conn.execute(
                event_deliveries.insert().values(
                    platform_id=history.job.platform_id,
                    request_id=request_id,
                    event_name="order.paid",
                    execution_ids=[],
                    created_at=history.now - age,
                )
            )

    await retention(SqlRetentionStore(engine)).purge()

    async with engine.connect() as conn:
        left = (await conn.execute(select(event_deliveries.c.request_id))).scalars().all()
    assert left == ["recent"]
