"""JobStore: creation and idempotency, reads, filters, and the locked update
that first withdraws slots fired ahead."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from cronstream_server.core import executions as execution_rules
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger, JobStatus
from cronstream_server.core.errors import NotFound
from cronstream_server.core.ids import new_id
from cronstream_server.core.jobs import Job
from cronstream_server.core.paging import PageRequest, sort_key
from cronstream_server.core.ports import DueJobs, JobFilter, JobMove, TickPlan
from cronstream_server.core.triggers import OnceTrigger

from tests.contract.conftest import HOUR, World, moving_on

AHEAD = timedelta(seconds=30)


async def fired_ahead(world: World, job: Job) -> Job:
    """Ticks `job` as the ticker does a slot within its fire-ahead: the
    execution is written before its instant, and the job moves past it."""
    ticked = await world.ticker.tick(2 * AHEAD, 10, moving_on())
    assert ticked.recorded == {job.id: 1}
    return await world.jobs.get_job(world.platform.id, job.id)


def pause(job: Job) -> Job:
    return replace(job, status=JobStatus.PAUSED)


async def test_an_update_first_withdraws_slots_fired_ahead(world: World) -> None:
    now = await world.now()
    job = await world.job(now + AHEAD)
    fired = await fired_ahead(world, job)
    assert (fired.next_run, fired.last_run, fired.executions_count) == (
        job.next_run + HOUR,  # type: ignore[operator]
        job.next_run,
        1,
    )

    before, after = await world.jobs.update_job(world.platform.id, job.id, pause)

    assert (before.next_run, before.last_run) == (job.next_run, None)
    assert (before.runs_count, before.executions_count, before.status) == (0, 0, JobStatus.ACTIVE)
    assert after == replace(before, status=JobStatus.PAUSED)
    assert await world.rows_of(job) == []
    stored = await world.jobs.get_job(world.platform.id, job.id)
    assert (stored.status, stored.next_run, stored.executions_count) == (
        JobStatus.PAUSED,
        job.next_run,
        0,
    )


async def test_a_job_completed_by_its_slot_fired_ahead_is_active_again(world: World) -> None:
    now = await world.now()
    job = await world.job(now + AHEAD, trigger=OnceTrigger(now + AHEAD))
    await world.ticker.tick(2 * AHEAD, 10, completing)
    assert (await world.jobs.get_job(world.platform.id, job.id)).status is JobStatus.COMPLETED

    before, _ = await world.jobs.update_job(world.platform.id, job.id, lambda j: j)

    assert (before.status, before.next_run, before.completed_at) == (
        JobStatus.ACTIVE,
        now + AHEAD,
        None,
    )


def completing(due: DueJobs) -> TickPlan:
    """A one-time job's tick: its only slot fires and it completes."""
    [job] = due.jobs
    assert job.next_run is not None
    slot = execution_rules.for_job(job, ExecutionTrigger.SCHEDULE, job.next_run, due.now)
    move = JobMove(job.id, None, job.next_run, 1, JobStatus.COMPLETED, due.now, due.now)
    return TickPlan(executions=[slot], moves=[move])


async def test_slots_whose_instants_have_come_are_never_withdrawn(world: World) -> None:
    now = await world.now()
    job = await world.job(now - timedelta(seconds=1))
    fired = await fired_ahead(world, job)

    before, _ = await world.jobs.update_job(world.platform.id, job.id, pause)

    assert before == fired
    assert [row.status for row in await world.rows_of(job)] == ["pending"]


async def test_a_slot_fired_ahead_and_cancelled_by_hand_stays(world: World) -> None:
    now = await world.now()
    job = await world.job(now + AHEAD)
    fired = await fired_ahead(world, job)
    [row] = await world.rows_of(job)
    await world.executions.update(
        world.platform.id, row.id, lambda e: execution_rules.cancel_by_user(e, now)
    )

    before, _ = await world.jobs.update_job(world.platform.id, job.id, pause)

    assert before == fired
    assert [row.status for row in await world.rows_of(job)] == ["cancelled"]


async def test_cancelling_a_job_withdraws_then_cancels_what_has_not_started(
    world: World,
) -> None:
    now = await world.now()
    job = await world.job(now + AHEAD)
    await fired_ahead(world, job)
    manual = await world.pending(job, now + HOUR)

    after = await world.jobs.cancel_job(
        world.platform.id, job.id, lambda j: replace(j, status=JobStatus.CANCELLED), now
    )

    assert (after.status, after.next_run) == (JobStatus.CANCELLED, job.next_run)
    [row] = await world.rows_of(job)
    assert (row.id, row.status) == (manual.id, ExecutionStatus.CANCELLED.value)


async def test_concurrent_updates_never_lose_a_write(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)

    def tag(name: str) -> Callable[[Job], Job]:
        return lambda j: replace(j, spec=replace(j.spec, tags=(*j.spec.tags, name)))

    await asyncio.gather(
        *(world.jobs.update_job(world.platform.id, job.id, tag(f"t{i}")) for i in range(5))
    )

    tags = (await world.jobs.get_job(world.platform.id, job.id)).spec.tags
    assert sorted(tags) == [f"t{i}" for i in range(5)]


async def test_a_request_id_used_before_returns_the_earlier_job(world: World) -> None:
    now = await world.now()
    first = await world.job(now + HOUR)
    template = replace(first, id=new_id())
    created, fresh = await world.jobs.create_job(template, "req-1")
    again, repeated = await world.jobs.create_job(replace(first, id=new_id()), "req-1")

    assert fresh and not repeated and again == created
    batch = await world.jobs.create_jobs(
        [(replace(first, id=new_id()), "req-1"), (replace(first, id=new_id()), None)]
    )
    assert [(job.id == created.id, was) for job, was in batch] == [(True, False), (False, True)]
    assert await world.jobs.count_jobs(world.platform.id) == 3


async def test_a_batch_is_created_whole_or_not_at_all(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)

    with pytest.raises(Exception):  # noqa: B017 - the duplicate id's IntegrityError
        await world.jobs.create_jobs([(replace(job, id=new_id()), None), (job, None)])

    assert await world.jobs.count_jobs(world.platform.id) == 1


async def test_other_platforms_jobs_and_malformed_ids_are_not_found(world: World) -> None:
    now = await world.now()
    other = await world.admin.create_platform(f"other-{new_id()[-8:]}")
    theirs = await world.job(now + HOUR, platform_id=other.id)

    for job_id in (theirs.id, new_id(), "not-an-id"):
        with pytest.raises(NotFound):
            await world.jobs.get_job(world.platform.id, job_id)
        with pytest.raises(NotFound):
            await world.jobs.update_job(world.platform.id, job_id, pause)
        with pytest.raises(NotFound):
            await world.jobs.delete_job(world.platform.id, job_id)
    assert await world.jobs.get_job(other.id, theirs.id) == theirs


async def test_listing_filters_and_pages_newest_first(world: World) -> None:
    now = await world.now()
    made = [
        await world.job(now + HOUR, tags=("a", "b")),
        await world.job(now + HOUR, tags=("a",)),
        await world.job(now + HOUR, tags=("b", "a", "c"), handler_name="x"),
        await world.job(now + HOUR, status=JobStatus.PAUSED, tags=("a", "b")),
    ]

    async def ids(where: JobFilter) -> list[str]:
        page, _ = await world.jobs.list_jobs(world.platform.id, where, PageRequest(10, None))
        return [job.id for job in page]

    newest_first = [job.id for job in reversed(made)]
    assert await ids(JobFilter()) == newest_first
    assert await ids(JobFilter(tags=("a", "b"))) == [made[3].id, made[2].id, made[0].id]
    assert await ids(JobFilter(statuses=(JobStatus.PAUSED,))) == [made[3].id]
    assert await ids(JobFilter(handler_name="x")) == [made[2].id]
    first, last = await world.jobs.list_jobs(world.platform.id, JobFilter(), PageRequest(3, None))
    assert [j.id for j in first] == newest_first[:3] and last == first[-1]
    after = sort_key(first[-1].created_at, first[-1].id)
    rest, end = await world.jobs.list_jobs(world.platform.id, JobFilter(), PageRequest(3, after))
    assert [j.id for j in rest] == newest_first[3:] and end is None


async def test_deleting_a_job_takes_its_executions(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    execution = await world.pending(job, now)

    await world.jobs.delete_job(world.platform.id, job.id)

    with pytest.raises(NotFound):
        await world.executions.get(world.platform.id, execution.id)
    assert await world.jobs.count_jobs(world.platform.id) == 0
