"""The ports of pausing: TickerStore.tick's `resume` (a pause with `until`
ends by itself, once across replicas), Upcoming.resume_at, and
JobStore.change_selected (PauseJobs, ResumeJobs)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from cronstream_server.core.enums import ExecutionStatus, JobStatus
from cronstream_server.core.jobs import Job
from cronstream_server.core.ports import DueJobs, TickerStore
from cronstream_server.core.selection import JobSelector
from cronstream_server.store.database import create_engine
from cronstream_server.store.ticker import SqlTickerStore

from tests.contract.conftest import HOUR, World, moving_on

MINUTE = timedelta(minutes=1)
AHEAD = timedelta(seconds=30)


async def paused(world: World, job: Job, until: datetime | None) -> Job:
    _, after = await world.jobs.update_job(
        job.platform_id, job.id, lambda j: replace(j, status=JobStatus.PAUSED, paused_until=until)
    )
    return after


def resumed(job: Job, now: datetime) -> Job:
    return replace(job, status=JobStatus.ACTIVE, paused_until=None, updated_at=now)


def pause(job: Job) -> Job:
    return replace(job, status=JobStatus.PAUSED)


def resume(job: Job) -> Job:
    return replace(job, status=JobStatus.ACTIVE)


async def resume_due(
    ticker: TickerStore, limit: int, resume: Callable[[Job, datetime], Job]
) -> list[Job]:
    """The jobs a tick resumed (their slots not due: it fires nothing)."""
    return list((await ticker.tick(timedelta(0), limit, moving_on(), resume)).resumed)


async def statuses(world: World, *jobs: Job) -> list[JobStatus]:
    return [(await world.jobs.get_job(j.platform_id, j.id)).status for j in jobs]


async def test_a_tick_resumes_only_paused_jobs_whose_until_came(world: World) -> None:
    now = await world.now()
    due = await paused(world, await world.job(now + HOUR), now - MINUTE)
    later = await paused(world, await world.job(now + HOUR), now + HOUR)
    for_good = await paused(world, await world.job(now + HOUR), None)
    seen: list[datetime] = []

    def resume_at(job: Job, at: datetime) -> Job:
        seen.append(at)
        return resumed(job, at)

    before = await resume_due(world.ticker, 10, resume_at)

    assert before == [due]  # as it was: paused, with its until
    [at] = seen
    assert now <= at < now + MINUTE  # the database's clock
    stored = await world.jobs.get_job(world.platform.id, due.id)
    assert (stored.status, stored.paused_until, stored.updated_at) == (JobStatus.ACTIVE, None, at)
    assert await statuses(world, later, for_good) == [JobStatus.PAUSED, JobStatus.PAUSED]
    assert await resume_due(world.ticker, 10, resume_at) == []


async def test_a_tick_resumes_due_jobs_first_and_fires_their_slots_at_once(
    world: World,
) -> None:
    now = await world.now()
    # Paused until a minute ago, with a slot that came meanwhile.
    due = await paused(world, await world.job(now - MINUTE), now - MINUTE)
    later = await paused(world, await world.job(now - MINUTE), now + HOUR)
    seen: list[DueJobs] = []

    ticked = await world.ticker.tick(timedelta(0), 10, moving_on(seen), resumed)

    assert [j.id for j in ticked.resumed] == [due.id]
    assert ticked.resumed[0].status is JobStatus.PAUSED  # as it was
    assert [j.id for j in seen[0].jobs] == [due.id]  # claimed in the same transaction
    assert ticked.recorded == {due.id: 1}
    assert await statuses(world, due, later) == [JobStatus.ACTIVE, JobStatus.PAUSED]
    again = await world.ticker.tick(timedelta(0), 10, moving_on(), resumed)
    assert (again.resumed, again.claimed) == ((), 0)


async def test_a_tick_without_resume_leaves_paused_jobs_alone(world: World) -> None:
    now = await world.now()
    due = await paused(world, await world.job(now - MINUTE), now - MINUTE)

    ticked = await world.ticker.tick(timedelta(0), 10, moving_on())

    assert (ticked.resumed, ticked.claimed) == ((), 0)
    assert await statuses(world, due) == [JobStatus.PAUSED]


async def test_a_tick_resumes_the_earliest_first_up_to_its_limit(world: World) -> None:
    now = await world.now()
    jobs = [
        await paused(world, await world.job(now + HOUR), now - (3 - i) * MINUTE) for i in range(3)
    ]

    first = await resume_due(world.ticker, 2, resumed)

    assert [j.id for j in first] == [jobs[0].id, jobs[1].id]
    assert [j.id for j in await resume_due(world.ticker, 2, resumed)] == [jobs[2].id]


async def test_concurrent_resumes_resume_each_job_once(world: World, database_url: str) -> None:
    now = await world.now()
    jobs = {(await paused(world, await world.job(now + HOUR), now - MINUTE)).id for _ in range(30)}
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        stores = [SqlTickerStore(engine) for engine in engines]
        rounds = await asyncio.gather(
            *(resume_due(s, 30, resumed) for s in stores for _ in range(2))
        )
    finally:
        for engine in engines:
            await engine.dispose()

    assert Counter(job.id for found in rounds for job in found) == Counter(dict.fromkeys(jobs, 1))


async def test_upcoming_names_the_earliest_until_of_a_paused_job(world: World) -> None:
    assert (await world.ticker.upcoming()).resume_at is None
    now = await world.now()
    await paused(world, await world.job(now + MINUTE), now + HOUR)
    soonest = await paused(world, await world.job(now + MINUTE), now + 2 * MINUTE)
    await paused(world, await world.job(now - HOUR), None)

    upcoming = await world.ticker.upcoming()

    assert upcoming.resume_at == soonest.paused_until
    assert upcoming.next_run is None  # none of them is active


async def test_change_selected_changes_the_matching_jobs_in_the_status(world: World) -> None:
    now = await world.now()
    other = await world.admin.create_platform("other")
    match = [
        await world.job(now + HOUR, tags=("nightly", "eu"), name="report-1"),
        await world.job(now + HOUR, tags=("eu", "nightly", "x"), name="report-2"),
    ]
    left = [
        await world.job(now + HOUR, tags=("nightly",), name="report-3"),  # not every tag
        await world.job(now + HOUR, tags=("nightly", "eu"), name="Report-4"),  # prefix's case
        await world.job(now + HOUR, tags=("nightly", "eu"), name="report-5", handler_name="y"),
        await world.job(
            now + HOUR, tags=("nightly", "eu"), name="report-6", status=JobStatus.PAUSED
        ),
        await world.job(now + HOUR, tags=("nightly", "eu"), name="report-7", platform_id=other.id),
    ]
    selector = JobSelector(tags=("nightly", "eu"), handler_name="h", name_prefix="report-")

    done = await world.jobs.change_selected(
        world.platform.id, selector, JobStatus.ACTIVE, 10, pause
    )

    assert [before.id for before, _ in done.changed] == [j.id for j in match]  # oldest first
    assert all(after == pause(before) for before, after in done.changed)
    assert done.remaining == 0
    assert await statuses(world, *match) == [JobStatus.PAUSED] * 2
    active, was_paused = JobStatus.ACTIVE, JobStatus.PAUSED
    assert await statuses(world, *left) == [active, active, active, was_paused, active]
    resumed_all = await world.jobs.change_selected(
        world.platform.id, JobSelector(all=True), JobStatus.PAUSED, 10, resume
    )
    assert {b.id for b, _ in resumed_all.changed} == {match[0].id, match[1].id, left[3].id}


async def test_change_selected_stops_at_the_limit_and_counts_the_rest(world: World) -> None:
    now = await world.now()
    jobs = [await world.job(now + HOUR, tags=("t",)) for _ in range(5)]
    selector = JobSelector(tags=("t",))

    counts = []
    for _ in range(3):
        done = await world.jobs.change_selected(
            world.platform.id, selector, JobStatus.ACTIVE, 2, pause
        )
        counts.append((len(done.changed), done.remaining))

    assert counts == [(2, 3), (2, 1), (1, 0)]
    assert await statuses(world, *jobs) == [JobStatus.PAUSED] * 5


async def test_a_name_prefix_matches_its_characters_as_written(world: World) -> None:
    now = await world.now()
    names = ["50%_off", "50%_offer", "50x_off", "50%xoff", "50%_OFF"]
    jobs = {name: await world.job(now + HOUR, name=name) for name in names}

    done = await world.jobs.change_selected(
        world.platform.id, JobSelector(name_prefix="50%_off"), JobStatus.ACTIVE, 10, pause
    )

    assert {before.spec.name for before, _ in done.changed} == {"50%_off", "50%_offer"}
    assert await statuses(world, jobs["50%_OFF"]) == [JobStatus.ACTIVE]


async def test_change_selected_first_withdraws_slots_fired_ahead(world: World) -> None:
    now = await world.now()
    job = await world.job(now + AHEAD, tags=("t",))
    ticked = await world.ticker.tick(2 * AHEAD, 10, moving_on())
    assert ticked.recorded == {job.id: 1}

    done = await world.jobs.change_selected(
        world.platform.id, JobSelector(tags=("t",)), JobStatus.ACTIVE, 10, pause
    )

    [(before, after)] = done.changed
    assert (before.next_run, before.last_run, before.executions_count) == (job.next_run, None, 0)
    assert after == pause(before)
    assert [r for r in await world.rows_of(job) if r.status == ExecutionStatus.PENDING.value] == []
