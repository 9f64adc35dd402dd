"""GateStore on SQL: one pass of the gate is one transaction over the
queries of `store.queries_gate`, on the database's clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from cronstream_server.core.dependencies import GateBatch, Gated, GateDecide, GatePlan
from cronstream_server.core.release import ReleaseBatch, ReleaseDecide, Releasing
from cronstream_server.store import queries_gate as q
from cronstream_server.store import queries_release as r
from cronstream_server.store.buffered import release_buffered
from cronstream_server.store.clock import database_now
from cronstream_server.store.database import dialect_of
from cronstream_server.store.errors import database_errors
from cronstream_server.store.queries_alerts import open_alerts, wanted_missed


class SqlGateStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    async def gate(
        self, limit: int, after: tuple[datetime, str] | None, decide: GateDecide
    ) -> Gated:
        async with database_errors(), self._engine.begin() as conn:
            now = await database_now(conn, self._dialect)
            slots = await q.lock_waiting(conn, limit, after)
            if not slots:
                return Gated(now, GatePlan(), 0, None)
            buffered = [s.job_id for s in slots if s.buffered]
            busy = await q.busy_runners(conn, self._dialect, buffered)
            slots = [replace(s, runner_busy=s.job_id in busy) for s in slots]
            plan = decide(GateBatch(now, slots, await q.upstream_of(conn, slots)))
            await q.release(conn, plan.released)
            await q.miss(conn, plan.missed, now)
            await q.still_waiting(conn, plan.waiting)
            finished = sorted({m.slot.job_id for m in plan.missed})
            await release_buffered(conn, self._dialect, finished, now)
            await open_alerts(conn, self._dialect, await wanted_missed(conn, plan.openings), now)
        last = slots[-1]
        return Gated(now, plan, len(slots), (last.wait_deadline, last.id))

    async def release(
        self, limit: int, after: tuple[datetime, str] | None, decide: ReleaseDecide
    ) -> Releasing:
        async with database_errors(), self._engine.begin() as conn:
            now = await database_now(conn, self._dialect)
            slots = await r.due_allow(conn, now, limit, after)
            later = [await r.next_allow(conn, now)]
            backfilling = False
            if after is None:  # the sequential ones' turns, once a pass
                turns, backfilling_jobs = await r.sequential_turns(conn, limit)
                backfilling = backfilling_jobs > 0
                slots += [s for s in turns if s.due_at <= now]
                later += [s.due_at for s in turns if s.due_at > now]
            plan = decide(ReleaseBatch(now, slots, await q.upstream_of(conn, slots)))
            await r.release(conn, plan.released, now)
            await r.still_waiting(conn, plan.waiting)
        allow = [s for s in slots if not s.sequential]
        last = (allow[-1].due_at, allow[-1].id) if allow else None
        next_at = min((at for at in later if at is not None), default=None)
        return Releasing(now, plan, len(allow), last, next_at, backfilling)
