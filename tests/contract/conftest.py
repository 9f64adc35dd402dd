"""The port contract suite: every test runs directly over the SQL adapters, on
SQLite and on Postgres (`database_url`), with no server in between.

`World` builds what a test starts from through the adapters themselves (a
platform, jobs, executions) and reads back what the ports do not return
(lease, session) from the tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from cronstream_server.core import executions as execution_rules
from cronstream_server.core.dispatch import Pending, Start, TraceStamp, Want
from cronstream_server.core.enums import (
    ExecutionStatus,
    ExecutionTrigger,
    JobStatus,
    OverlapPolicy,
)
from cronstream_server.core.executions import Execution
from cronstream_server.core.ids import new_id
from cronstream_server.core.jobs import Job, JobSpec
from cronstream_server.core.ports import DueJobs, JobMove, TickPlan
from cronstream_server.core.tenancy import Platform
from cronstream_server.core.triggers import IntervalTrigger, Trigger
from cronstream_server.store.admin import SqlAdminStore
from cronstream_server.store.clock import database_now
from cronstream_server.store.database import create_engine, dialect_of
from cronstream_server.store.dispatch import SqlDispatchStore
from cronstream_server.store.event_delivery import SqlEventDeliveryStore
from cronstream_server.store.events import SqlEventStore
from cronstream_server.store.executions import SqlExecutionStore
from cronstream_server.store.insight import SqlInsightStore
from cronstream_server.store.jobs import SqlJobStore
from cronstream_server.store.retention import SqlRetentionStore
from cronstream_server.store.tables import job_executions
from cronstream_server.store.ticker import SqlTickerStore
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

HOUR = timedelta(hours=1)
LEASE = timedelta(seconds=30)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@dataclass
class World:
    """The adapters over one database, and builders for what tests start from."""

    engine: AsyncEngine
    platform: Platform
    jobs: SqlJobStore
    executions: SqlExecutionStore
    ticker: SqlTickerStore
    dispatch: SqlDispatchStore
    retention: SqlRetentionStore
    events: SqlEventStore
    delivery: SqlEventDeliveryStore
    insight: SqlInsightStore
    admin: SqlAdminStore

    @property
    def side_by_side(self) -> bool:
        return self.ticker.side_by_side

    async def now(self) -> datetime:
        async with self.engine.connect() as conn:
            return await database_now(conn, dialect_of(conn))

    async def job(
        self,
        next_run: datetime | None,
        *,
        overlap: OverlapPolicy = OverlapPolicy.ALLOW,
        status: JobStatus = JobStatus.ACTIVE,
        trigger: Trigger | None = None,
        platform_id: str | None = None,
        **spec: Any,
    ) -> Job:
        now = await self.now()
        trigger = trigger or IntervalTrigger(every=HOUR, start_at=next_run or now)
        job = Job(
            id=new_id(),
            platform_id=platform_id or self.platform.id,
            spec=JobSpec(
                name=spec.pop("name", "contract"),
                handler_name=spec.pop("handler_name", "h"),
                trigger=trigger,
                overlap_policy=overlap,
                **spec,
            ),
            status=status,
            created_by="test",
            created_at=now,
            updated_at=now,
            next_run=next_run,
        )
        created, _ = await self.jobs.create_job(job, None)
        return created

    def execution(
        self,
        job: Job,
        *,
        at: datetime,
        status: ExecutionStatus = ExecutionStatus.PENDING,
        trigger: ExecutionTrigger = ExecutionTrigger.MANUAL,
        **changes: Any,
    ) -> Execution:
        made = execution_rules.for_job(job, trigger, at, at)
        return replace(made, status=status, **changes)

    async def pending(self, job: Job, at: datetime, **changes: Any) -> Execution:
        """A pending execution of `job`, due at `at` (a manual run)."""
        execution = self.execution(job, at=at, **changes)
        await self.executions.insert_many([execution])
        return execution

    async def running(
        self, job: Job, *, session: str = "s1", worker: str = "w1", **start: Any
    ) -> Start:
        """A pending execution of `job` claimed by `session` through the port."""
        now = await self.now()
        execution = await self.pending(job, now - timedelta(seconds=1))
        claimed = await self.dispatch.claim(
            [Want(job.platform_id, job.spec.handler_name, 100)],
            timedelta(0),
            starting(session, worker, only={execution.id}, **start),
        )
        [started] = [s for s in claimed.starts if s.execution.id == execution.id]
        return started

    async def row(self, execution_id: str) -> Any:
        async with self.engine.connect() as conn:
            query = select(job_executions).where(job_executions.c.id == execution_id)
            return (await conn.execute(query)).one()

    async def rows_of(self, job: Job) -> list[Any]:
        async with self.engine.connect() as conn:
            query = (
                select(job_executions)
                .where(job_executions.c.job_id == job.id)
                .order_by(job_executions.c.scheduled_at)
            )
            return list((await conn.execute(query)).all())


def starting(
    session: str = "s1",
    worker: str = "w1",
    *,
    only: set[str] | None = None,
    lease: timedelta = LEASE,
    deadline: timedelta | None = None,
) -> Callable[[list[Pending], datetime], list[Start]]:
    """A `decide` for DispatchStore.claim: every candidate (or those in
    `only`) starts now in `session`, with this lease and deadline."""

    def decide(candidates: list[Pending], now: datetime) -> list[Start]:
        return [
            Start(
                execution=c,
                session_id=session,
                worker_id=worker,
                started_at=now,
                lease_expires_at=now + lease,
                deadline_at=now + (deadline if deadline is not None else c.timeout),
                trace=TraceStamp(new_id()[:32], new_id()[:16], None, "", ""),
            )
            for c in candidates
            if only is None or c.id in only
        ]

    return decide


def moving_on(
    seen: list[DueJobs] | None = None, *, by: timedelta = HOUR
) -> Callable[[DueJobs], TickPlan]:
    """A `decide` for TickerStore.tick: each claimed job fires its slot (a
    pending execution due at it) and moves `by` later."""

    def decide(due: DueJobs) -> TickPlan:
        if seen is not None:
            seen.append(due)
        executions, moves = [], []
        for job in due.jobs:
            assert job.next_run is not None
            slot = job.next_run
            fired = execution_rules.for_job(job, ExecutionTrigger.SCHEDULE, slot, due.now)
            executions.append(fired)
            moves.append(
                JobMove(job.id, slot + by, slot, job.runs_count + 1, job.status, None, due.now)
            )
        return TickPlan(executions=executions, moves=moves)

    return decide


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    admin = SqlAdminStore(engine)
    platform = await admin.create_platform(f"contract-{new_id()[-8:]}")
    return World(
        engine=engine,
        platform=platform,
        jobs=SqlJobStore(engine),
        executions=SqlExecutionStore(engine),
        ticker=SqlTickerStore(engine),
        dispatch=SqlDispatchStore(engine),
        retention=SqlRetentionStore(engine),
        events=SqlEventStore(engine),
        delivery=SqlEventDeliveryStore(engine),
        insight=SqlInsightStore(engine),
        admin=admin,
    )
