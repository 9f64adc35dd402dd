"""TickerStore on SQL: a tick is one transaction over the queries of
`store.queries_ticker`, on the database's clock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.core.fairness import EVERY_PLATFORM, TickLane
from cronstream_server.core.firing import watches_outstanding
from cronstream_server.core.jobs import Job
from cronstream_server.core.ports import DecideTick, DueJobs, Ticked, TickPlan, Upcoming
from cronstream_server.store import queries_ticker as q
from cronstream_server.store.buffered import buffer
from cronstream_server.store.clock import database_now
from cronstream_server.store.database import dialect_of
from cronstream_server.store.errors import database_errors
from cronstream_server.store.owned import rewrite_many
from cronstream_server.store.queries_alerts import open_alerts, wanted_missed
from cronstream_server.store.rows import job_values
from cronstream_server.store.tables import scheduled_jobs


class SqlTickerStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    @property
    def side_by_side(self) -> bool:
        return self._dialect.side_by_side_writers

    async def tick(
        self,
        ahead: timedelta,
        limit: int,
        decide: DecideTick,
        resume: Callable[[Job, datetime], Job] | None = None,
        lane: TickLane = EVERY_PLATFORM,
    ) -> Ticked:
        async with database_errors(), self._engine.begin() as conn:
            now = await database_now(conn, self._dialect)
            resumed = await _resume(conn, now, limit, resume) if resume else []
            horizon = now + ahead
            claim = await q.claim_due_jobs(conn, self._dialect, now, horizon, limit, lane)
            due = claim.jobs
            if not due:
                return Ticked(
                    now, 0, TickPlan(), {}, (), tuple(resumed), claim.demand, claim.skipped
                )
            watched = [job.id for job in due if watches_outstanding(job)]
            seen = await q.outstanding(conn, self._dialect, watched)
            plan = decide(DueJobs(due, seen, now, horizon))
            cancelled = await q.cancel_outstanding(conn, plan.cancel_outstanding, now)
            batch = [*plan.executions, *(buffer(e) for e in plan.buffered)]
            recorded: Counter[str] = await q.insert_slots(conn, self._dialect, batch)
            await q.move_jobs(conn, self._dialect, plan.moves, recorded)
            # A slot stored before (recorded 0 times now) had its alert then.
            missed = [o for o in plan.missed if recorded.get(o.job_id)]
            await open_alerts(conn, self._dialect, await wanted_missed(conn, missed), now)
        return Ticked(
            now,
            len(due),
            plan,
            recorded,
            tuple(cancelled),
            tuple(resumed),
            claim.demand,
            claim.skipped,
        )

    async def upcoming(
        self,
        crowd: int = 0,
        crowd_window: timedelta = timedelta(),
        excluding: frozenset[str] = frozenset(),
    ) -> Upcoming:
        async with database_errors(), self._engine.connect() as conn:
            now = await database_now(conn, self._dialect)
            next_run, resume_at = await q.earliest(conn, self._dialect, excluding)
            crowded = False
            if crowd and not excluding and next_run is not None and next_run > now:
                crowded = await q.due_count(conn, next_run + crowd_window, crowd) >= crowd
            return Upcoming(now, next_run, resume_at, crowded)


async def _resume(
    conn: AsyncConnection, now: datetime, limit: int, resume: Callable[[Job, datetime], Job]
) -> list[Job]:
    """The paused jobs whose `until` has come, resumed (TickerStore.tick's step 0)."""
    due = await q.claim_resume_due(conn, now, limit)
    # A paused job has no slot fired ahead to withdraw: its pause withdrew
    # them, and the ticker claims active jobs only.
    await rewrite_many(conn, scheduled_jobs, [job_values(resume(j, now)) for j in due])
    return due
