"""Slots fired ahead of their instants: written early, started on time, and
withdrawn when the job is paused, edited or cancelled before the instant.

The servers here fire 3 s ahead and poll for due work only every 30 s, so a
slot that starts on time was started by its `due` signal, never by the poll,
and the assertions hold however slow the machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from cronstream.v1 import execution_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.store.database import create_engine
from cronstream_server.store.tables import scheduled_jobs
from google.protobuf import field_mask_pb2, struct_pb2
from sqlalchemy import select

from tests.conftest import Live, Tenant, make_tenant
from tests.integration.test_ticker import executions_of, job_of
from tests.integration.worker_harness import RawWorker, eventually, short_lease_server
from tests.jobs import create, ts

AHEAD = 3.0
PENDING = execution_pb2.EXECUTION_STATUS_PENDING


@pytest.fixture
async def ahead(database_url: str) -> AsyncIterator[Live]:
    async with short_lease_server(
        database_url, fire_ahead_seconds=AHEAD, dispatch_poll_seconds=30.0
    ) as live:
        yield live


@pytest.fixture
async def acme(ahead: Live) -> Tenant:
    return await make_tenant(ahead, "acme")


def at(stamp: object) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)  # type: ignore[attr-defined]


async def once_fired_ahead(
    live: Live, tenant: Tenant, payload: dict[str, object] | None = None
) -> tuple[job_pb2.Job, datetime]:
    """A one-time job due in 2 s, once the ticker has fired it (ahead)."""
    run_at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    job = job_pb2.Job(name="soon", handler_name="h", once=job_pb2.OnceTrigger(run_at=ts(run_at)))
    if payload is not None:
        job.payload.update(payload)
    created = await create(live, tenant, job)

    async def fired() -> bool:
        return len(await executions_of(live, tenant, created.id)) == 1

    await eventually(fired, within=AHEAD)
    return created, run_at


async def test_a_slot_is_written_ahead_and_waits_for_its_instant(ahead: Live, acme: Tenant) -> None:
    job, run_at = await once_fired_ahead(ahead, acme)

    (slot,) = await executions_of(ahead, acme, job.id)
    assert at(slot.scheduled_at) == run_at
    assert slot.status == PENDING
    assert at(slot.created_at) < run_at  # written before its instant
    fired = await job_of(ahead, acme, job.id)
    assert fired.status == job_pb2.JOB_STATUS_COMPLETED  # no slot is left to fire
    assert fired.executions_count == 1


async def test_a_worker_gets_a_slot_fired_ahead_at_its_instant(ahead: Live, acme: Tenant) -> None:
    worker = await RawWorker.connect(ahead, acme, handlers=("h",), slots=5, accepts_batches=True)
    job, run_at = await once_fired_ahead(ahead, acme)

    message = await worker.next(within=AHEAD + 5.0)
    received = datetime.now(UTC)
    kind = message.WhichOneof("msg")
    assignment = message.assignment if kind == "assignment" else message.assignments.assignments[0]
    assert assignment.job_id == job.id
    assert at(assignment.scheduled_at) == run_at
    assert run_at <= received < run_at + timedelta(seconds=5)  # at its instant, not at the poll
    (slot,) = await executions_of(ahead, acme, job.id)
    assert slot.status == execution_pb2.EXECUTION_STATUS_RUNNING
    assert run_at <= at(slot.started_at) <= received  # started at its instant, not before
    await worker.close()


async def test_a_worker_that_holds_gets_a_slot_ahead_with_its_instant(
    ahead: Live, acme: Tenant
) -> None:
    """WorkerHello.holds_until_start: the assignment leaves when it is claimed
    (0.2 s ahead), as `assignments` even alone, with its instant and the
    moment it was written on one clock, for the worker to start it then."""
    worker = await RawWorker.connect(
        ahead, acme, handlers=("h",), slots=5, accepts_batches=True, holds_until_start=True
    )
    job, run_at = await once_fired_ahead(ahead, acme)

    batch = await worker.expect("assignments", within=AHEAD + 5.0)
    received = datetime.now(UTC)
    (assignment,) = batch.assignments
    assert assignment.job_id == job.id
    assert at(assignment.start_at) == at(assignment.scheduled_at) == run_at
    assert received < run_at  # sent ahead: the worker holds it
    hold = at(assignment.start_at) - at(batch.sent_at)
    assert timedelta(0) < hold <= timedelta(seconds=1)
    (slot,) = await executions_of(ahead, acme, job.id)
    assert slot.status == execution_pb2.EXECUTION_STATUS_RUNNING
    assert at(slot.started_at) == run_at  # its attempt starts at the instant, as told
    await worker.close()


async def test_every_instant_one_pass_fires_ahead_comes_on_time(ahead: Live, acme: Tenant) -> None:
    """A pass fired 3 s ahead writes slots of several whole seconds; each
    instant is announced, so the later one starts at its instant too, not at
    the dispatcher's 30 s poll (a pass used to announce its earliest only)."""
    worker = await RawWorker.connect(ahead, acme, handlers=("h",), slots=5, accepts_batches=True)
    first = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    instants = [first, first + timedelta(seconds=1)]
    jobs = [
        job_pb2.Job(name=f"at-{i}", handler_name="h", once=job_pb2.OnceTrigger(run_at=ts(t)))
        for i, t in enumerate(instants)
    ]
    # In one call, so that one pass fires both.
    requests = [pb.CreateJobRequest(job=job) for job in jobs]
    await ahead.scheduler.BatchCreateJobs(
        pb.BatchCreateJobsRequest(requests=requests), metadata=acme.auth
    )

    for instant in instants:
        message = await worker.next(within=AHEAD + 5.0)
        received = datetime.now(UTC)
        kind = message.WhichOneof("msg")
        batch = [message.assignment] if kind == "assignment" else message.assignments.assignments
        assert [at(a.scheduled_at) for a in batch] == [instant]
        assert instant <= received < instant + timedelta(seconds=5)  # not at the 30 s poll
    await worker.close()


async def test_a_job_held_by_another_transaction_as_its_pass_comes_is_still_fired_ahead(
    ahead: Live, acme: Tenant, database_url: str
) -> None:
    """The pass that should fire the job finds its row locked (SKIP LOCKED: a
    results batch updating its counters holds it, on a busy server): the
    ticker looks again a moment later, not at the instant (it took a job it
    could not claim for one that waits for its instant, and the slot came
    late)."""
    if database_url.startswith("sqlite"):
        pytest.skip("one writer at a time: the tick waits for the lock instead")
    run_at = (datetime.now(UTC) + timedelta(seconds=AHEAD + 3)).replace(microsecond=0)
    job = job_pb2.Job(name="held", handler_name="h", once=job_pb2.OnceTrigger(run_at=ts(run_at)))
    created = await create(ahead, acme, job)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as other:
            await other.begin()
            held = select(scheduled_jobs.c.id).where(scheduled_jobs.c.id == created.id)
            await other.execute(held.with_for_update())
            # Past the instant the pass comes at (AHEAD before run_at).
            release_at = run_at - timedelta(seconds=1)
            await asyncio.sleep((release_at - datetime.now(UTC)).total_seconds())
            assert await executions_of(ahead, acme, created.id) == []
            await other.rollback()
    finally:
        await engine.dispose()

    async def fired() -> bool:
        return len(await executions_of(ahead, acme, created.id)) == 1

    await eventually(fired, within=AHEAD + 5.0)
    (slot,) = await executions_of(ahead, acme, created.id)
    assert at(slot.created_at) < run_at  # fired ahead once the row was free


async def test_pausing_withdraws_a_slot_fired_ahead_and_resuming_fires_it(
    ahead: Live, acme: Tenant
) -> None:
    job, run_at = await once_fired_ahead(ahead, acme)

    paused = (await ahead.scheduler.PauseJob(pb.PauseJobRequest(id=job.id), metadata=acme.auth)).job
    assert paused.status == job_pb2.JOB_STATUS_PAUSED
    assert at(paused.next_run) == run_at
    assert paused.executions_count == 0
    assert await executions_of(ahead, acme, job.id) == []

    await ahead.scheduler.ResumeJob(pb.ResumeJobRequest(id=job.id), metadata=acme.auth)

    async def fired_again() -> bool:
        return len(await executions_of(ahead, acme, job.id)) == 1

    await eventually(fired_again, within=AHEAD)
    (slot,) = await executions_of(ahead, acme, job.id)
    assert at(slot.scheduled_at) == run_at
    assert (await job_of(ahead, acme, job.id)).status == job_pb2.JOB_STATUS_COMPLETED


async def test_editing_a_job_fires_its_slot_again_with_the_new_payload(
    ahead: Live, acme: Tenant
) -> None:
    job, run_at = await once_fired_ahead(ahead, acme, payload={"version": 1})

    change = job_pb2.Job(id=job.id, payload=struct_pb2.Struct())
    change.payload.update({"version": 2})
    await ahead.scheduler.UpdateJob(
        pb.UpdateJobRequest(job=change, update_mask=field_mask_pb2.FieldMask(paths=["payload"])),
        metadata=acme.auth,
    )

    async def refired() -> bool:
        slots = await executions_of(ahead, acme, job.id)
        return len(slots) == 1 and slots[0].payload["version"] == 2

    await eventually(refired, within=AHEAD)
    (slot,) = await executions_of(ahead, acme, job.id)
    assert at(slot.scheduled_at) == run_at


async def test_cancelling_a_job_leaves_no_slot_fired_ahead(ahead: Live, acme: Tenant) -> None:
    job, _ = await once_fired_ahead(ahead, acme)

    await ahead.scheduler.CancelJob(pb.CancelJobRequest(id=job.id), metadata=acme.auth)

    assert await executions_of(ahead, acme, job.id) == []
    assert (await job_of(ahead, acme, job.id)).status == job_pb2.JOB_STATUS_CANCELLED


async def test_a_paused_cron_job_keeps_the_slots_whose_instants_came(
    ahead: Live, acme: Tenant
) -> None:
    every_second = job_pb2.CronTrigger(expression="* * * * * *")
    job = await create(ahead, acme, job_pb2.Job(name="s", handler_name="h", cron=every_second))

    async def several_ahead() -> bool:
        return len(await executions_of(ahead, acme, job.id)) >= 3

    await eventually(several_ahead, within=AHEAD + 2)
    before_pause = datetime.now(UTC)
    paused = (await ahead.scheduler.PauseJob(pb.PauseJobRequest(id=job.id), metadata=acme.auth)).job
    after_pause = datetime.now(UTC)

    kept = await executions_of(ahead, acme, job.id)
    assert all(at(s.scheduled_at) <= after_pause for s in kept)
    assert paused.executions_count == len(kept)
    assert before_pause < at(paused.next_run) <= after_pause + timedelta(seconds=1)
    if kept:
        assert at(paused.last_run) == at(kept[-1].scheduled_at)
        assert at(paused.next_run) == at(kept[-1].scheduled_at) + timedelta(seconds=1)
    else:
        assert not paused.HasField("last_run")
