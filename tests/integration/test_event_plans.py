"""TriggerEvent's lookup of a platform's event jobs, as Postgres plans it:
through the index of event jobs alone, however many other jobs the platform
holds (W3 holds 100,000 cron jobs; a read of them all took 17 ms a batch).

The table here is small, where a sequential scan is cheapest, so the plan is
taken with sequential scans disabled (tests.integration.test_settle_plans):
what is checked is which index the planner picks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from cronstream_server.core.enums import JobStatus
from cronstream_server.core.ids import new_id
from cronstream_server.core.triggers import EventTrigger, IntervalTrigger
from cronstream_server.store.event_delivery import _listeners
from cronstream_server.store.jobs import SqlJobStore
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.test_retention import History
from tests.integration.test_settle_plans import engine, plan_of

__all__ = ["engine"]  # the fixture: Postgres only


async def test_an_events_listeners_are_read_through_the_event_jobs_index(
    engine: AsyncEngine,
) -> None:
    history = await History.make(engine)
    jobs = SqlJobStore(engine)
    for index in range(200):
        every = IntervalTrigger(every=timedelta(minutes=1), start_at=history.now)
        spec = replace(history.job.spec, name=f"cron-{index}", trigger=every)
        await jobs.create_job(replace(history.job, id=new_id(), spec=spec), None)
    for index in range(3):
        spec = replace(history.job.spec, name=f"on-{index}", trigger=EventTrigger("signup"))
        job = replace(history.job, id=new_id(), spec=spec, status=JobStatus.ACTIVE)
        await jobs.create_job(job, None)
    key = (history.job.platform_id, "signup")
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE scheduled_jobs"))
        found = await _listeners(conn, {key})
        _, plan = await plan_of(conn, _listeners(conn, {key}))
        await conn.rollback()

    assert sorted(j.spec.name for j in found[key][1]) == ["on-0", "on-1", "on-2"]
    assert "ix_scheduled_jobs_events" in plan, plan
