""" "Buffered" (core.ports): a BUFFER_ONE slot waits, stored pending but never
claimed, until an execution of its job reaches a final status; it is then
due at that instant."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from cronstream_server.core import executions as execution_rules
from cronstream_server.core.dispatch import Pending, Report, Start, Want
from cronstream_server.core.enums import ExecutionTrigger, OverlapPolicy
from cronstream_server.core.jobs import Job
from cronstream_server.core.ports import DueJobs, JobMove, TickPlan

from tests.contract.conftest import HOUR, World, starting

CAP = timedelta(minutes=5)


async def buffered_slot(world: World, max_retries: int = 3) -> tuple[Job, str]:
    """A BUFFER_ONE job, and a slot of it buffered (as when one runs)."""
    now = await world.now()
    job = await world.job(
        now - timedelta(seconds=1), overlap=OverlapPolicy.BUFFER_ONE, max_retries=max_retries
    )
    recorded: list[str] = []

    def buffer(due: DueJobs) -> TickPlan:
        [claimed] = due.jobs
        assert claimed.next_run is not None
        slot = execution_rules.for_job(claimed, ExecutionTrigger.SCHEDULE, claimed.next_run, now)
        recorded.append(slot.id)
        move = JobMove(job.id, claimed.next_run + HOUR, claimed.next_run, 1, job.status, None, now)
        return TickPlan(buffered=[slot], moves=[move])

    await world.ticker.tick(timedelta(0), 10, buffer)
    return job, recorded[0]


async def claimable(world: World, ahead: timedelta = timedelta(days=1)) -> list[str]:
    """What a claim would hand out now (nothing is started)."""
    seen: list[str] = []

    def look(candidates: list[Pending], _now: datetime) -> list[Start]:
        seen.extend(c.id for c in candidates)
        return []

    await world.dispatch.claim([Want(world.platform.id, "h", 100)], ahead, look)
    return seen


async def test_a_buffered_slot_is_pending_but_never_claimed(world: World) -> None:
    job, waiting = await buffered_slot(world)

    assert (await world.row(waiting)).status == "pending"
    assert waiting not in await claimable(world, ahead=timedelta(days=3650))
    assert (await world.jobs.get_job(world.platform.id, job.id)).executions_count == 1


async def test_a_final_result_releases_the_buffered_slot(world: World) -> None:
    job, waiting = await buffered_slot(world)
    running = await world.running(job)

    await world.dispatch.settle(
        [Report(world.platform.id, running.execution.id, 1, True)], random.Random(), CAP
    )

    released = await world.row(waiting)
    finished = await world.row(running.execution.id)
    assert released.due_at == finished.completed_at
    assert waiting in await claimable(world, ahead=timedelta(0))


async def test_a_retry_does_not_release_it(world: World) -> None:
    job, waiting = await buffered_slot(world)
    running = await world.running(job)

    await world.dispatch.settle(
        [Report(world.platform.id, running.execution.id, 1, False)], random.Random(), CAP
    )

    assert (await world.row(running.execution.id)).status == "pending"  # retrying
    assert waiting not in await claimable(world)


async def test_a_worker_lost_for_good_releases_it(world: World) -> None:
    job, waiting = await buffered_slot(world, max_retries=0)
    lost = await world.running(job)

    await world.dispatch.release_sessions([lost.session_id], worker_lost=True)

    assert (await world.row(lost.execution.id)).status == "failed"
    assert waiting in await claimable(world, ahead=timedelta(0))


async def test_a_lease_run_out_for_good_releases_it(world: World) -> None:
    job, waiting = await buffered_slot(world, max_retries=0)
    await world.running(job, lease=-HOUR)

    await world.dispatch.reap(10, random.Random(), CAP)

    assert waiting in await claimable(world, ahead=timedelta(0))


async def test_an_execution_updated_to_a_final_status_releases_it(world: World) -> None:
    job, waiting = await buffered_slot(world)
    now = await world.now()
    other = await world.pending(job, now + HOUR)

    await world.executions.update(
        world.platform.id, other.id, lambda e: execution_rules.cancel_by_user(e, now)
    )

    assert (await world.row(waiting)).due_at == now
    assert waiting in await claimable(world, ahead=timedelta(0))


async def test_starting_it_is_claiming_it_once_released(world: World) -> None:
    job, waiting = await buffered_slot(world)
    running = await world.running(job)
    await world.dispatch.settle(
        [Report(world.platform.id, running.execution.id, 1, True)], random.Random(), CAP
    )

    claimed = await world.dispatch.claim(
        [Want(world.platform.id, "h", 10)], timedelta(0), starting(only={waiting})
    )

    assert [s.execution.id for s in claimed.starts] == [waiting]
