"""The alert check's own verdict on whether the next one may find anything
(store.alerts, engine.alert_watch's cadence), on both databases; and the
LATE alert it opens for a job's own limit while other jobs' pending
executions, under no limit, wait beside it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

from cronstream_server.core.alerts import Checked
from cronstream_server.core.enums import ExecutionTrigger, HealthState
from cronstream_server.core.executions import Execution
from cronstream_server.core.health import HealthPolicy
from cronstream_server.core.jobs import Job
from cronstream_server.engine.alert_watch import AlertWatch
from cronstream_server.store.alerts import SqlAlertStore

from tests.contract.conftest import HOUR, World

SECOND = timedelta(seconds=1)


async def slot(world: World, job: Job, at: datetime) -> Execution:
    """A slot of the job's schedule, pending since `at` (LATE weighs firings only)."""
    made = world.execution(job, at=at, trigger=ExecutionTrigger.SCHEDULE)
    await world.executions.insert_many([made])
    return made


async def test_nothing_to_watch_without_a_limit_or_an_open_alert(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    await slot(world, job, now - HOUR)  # an hour late, but no limit applies

    checked = await SqlAlertStore(world.engine).check()

    assert checked == Checked([], watching=False)


async def test_a_platform_default_limit_is_watched(world: World) -> None:
    store = SqlAlertStore(world.engine)
    await store.set_health_defaults(world.platform.id, HealthPolicy(max_duration=HOUR))

    assert (await store.check()).watching


async def test_a_job_s_own_limit_opens_late_among_pending_work_under_none(world: World) -> None:
    now = await world.now()
    limited = await world.job(now + HOUR, health_policy=HealthPolicy(max_start_delay=SECOND))
    others = [await world.job(now + HOUR) for _ in range(3)]
    for job in others:
        await slot(world, job, now - HOUR)
    late = await slot(world, limited, now - 2 * SECOND)
    store = SqlAlertStore(world.engine)

    checked = await store.check()

    assert checked.watching
    [opened] = [e.alert for e in checked.events]
    assert (opened.kind, opened.job_id, opened.execution_id) == (
        HealthState.LATE,
        limited.id,
        late.id,
    )


async def test_an_open_alert_is_watched_until_it_resolves(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR, health_policy=HealthPolicy(max_start_delay=SECOND))
    late = await slot(world, job, now - 2 * SECOND)
    store = SqlAlertStore(world.engine)
    assert [e.type for e in (await store.check()).events] == ["opened"]
    # The limit goes; the alert stays open until a check resolves it.
    unlimited = replace(job.spec, health_policy=HealthPolicy())
    await world.jobs.update_job(world.platform.id, job.id, lambda j: replace(j, spec=unlimited))

    resolved = await store.check()

    assert [e.type for e in resolved.events] == ["resolved"]
    assert resolved.events[0].alert.execution_id == late.id
    assert not resolved.watching  # nothing is open, and no limit is left


async def test_the_watch_checks_four_times_a_second_only_while_watching() -> None:
    calls: list[bool] = []
    watching = True

    async def check() -> Checked:
        calls.append(watching)
        return Checked([], watching)

    watch = AlertWatch(check, interval=0.01, idle_interval=3600.0)
    watch.start()
    try:
        await asyncio.sleep(0.2)
        assert len(calls) >= 5  # every 10 ms while watching
        watching = False
        await asyncio.sleep(0.1)
        before = len(calls)
        await asyncio.sleep(0.2)
        assert len(calls) == before  # asleep for its idle interval
    finally:
        await watch.stop()
