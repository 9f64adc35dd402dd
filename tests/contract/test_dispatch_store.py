"""DispatchStore: claim, settle, leases, release and reap, fenced by attempt."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

from cronstream_server.core.dispatch import Pending, Reaped, Report, Start, Verdict, Want
from cronstream_server.core.enums import ExecutionTrigger, JobStatus, LogLevel, Priority
from cronstream_server.core.executions import ExecutionLog
from cronstream_server.core.ids import new_id
from cronstream_server.core.triggers import OnceTrigger
from cronstream_server.store.database import create_engine
from cronstream_server.store.dispatch import SqlDispatchStore
from cronstream_server.store.tables import job_execution_logs, job_executions
from sqlalchemy import func, select

from tests.contract.conftest import HOUR, LEASE, World, starting

CAP = timedelta(minutes=5)
MINUTE = timedelta(minutes=1)


def rng() -> random.Random:
    return random.Random(7)


async def test_claim_takes_what_is_due_for_the_wanted_handler_in_order(world: World) -> None:
    """Due by now + ahead, of the platform's handler, critical first then
    longest due, at most the want's limit."""
    now = await world.now()
    job = await world.job(now + HOUR)
    other_handler = await world.job(now + HOUR, handler_name="other")
    late = await world.pending(job, now - 2 * MINUTE)
    later = await world.pending(job, now - MINUTE)
    critical = await world.pending(job, now - timedelta(seconds=1), priority=Priority.CRITICAL)
    ahead = await world.pending(job, now + timedelta(seconds=5))
    await world.pending(job, now + HOUR)  # not due
    await world.pending(other_handler, now - HOUR)
    seen: list[list[Pending]] = []

    def record(candidates: list[Pending], _now: datetime) -> list[Start]:
        seen.append(candidates)
        return []

    want = Want(world.platform.id, "h", 10)
    claimed = await world.dispatch.claim([want], timedelta(seconds=10), record)
    limited = await world.dispatch.claim([replace(want, limit=2)], timedelta(0), record)

    order = [critical.id, late.id, later.id, ahead.id]
    assert [c.id for c in seen[0]] == order
    assert [c.id for c in seen[1]] == order[:2]
    assert claimed.starts == [] and limited.starts == []
    assert now <= claimed.now < now + MINUTE


async def test_a_claim_starts_what_decide_picks_and_leaves_the_rest_pending(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    picked = await world.pending(job, now - MINUTE)
    left = await world.pending(job, now - MINUTE)

    claimed = await world.dispatch.claim(
        [Want(world.platform.id, "h", 10)], timedelta(0), starting("s1", "w1", only={picked.id})
    )

    [start] = claimed.starts
    row = await world.row(picked.id)
    assert (row.status, row.session_id, row.worker_id, row.attempt) == ("running", "s1", "w1", 1)
    assert (row.started_at, row.lease_expires_at) == (claimed.now, claimed.now + LEASE)
    assert row.deadline_at == start.deadline_at and row.trace_id == start.trace.trace_id
    left_row = await world.row(left.id)
    assert (left_row.status, left_row.session_id, left_row.attempt) == ("pending", None, 1)


async def test_a_claim_never_takes_a_row_another_transaction_holds(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    held = await world.pending(job, now - 2 * MINUTE)
    free = await world.pending(job, now - MINUTE)
    want = Want(world.platform.id, "h", 10)
    async with world.engine.connect() as other:
        await other.begin()
        if world.side_by_side:
            lock = select(job_executions.c.id).where(job_executions.c.id == held.id)
            await other.execute(lock.with_for_update())
        claim = asyncio.create_task(world.dispatch.claim([want], timedelta(0), starting()))
        if world.side_by_side:
            await asyncio.wait_for(asyncio.shield(claim), 5.0)  # skipped, not waited for
        else:
            await asyncio.sleep(0.3)
            assert not claim.done(), "a claim ran while another transaction held the database"
        await other.rollback()
        claimed = await claim

    started = [s.execution.id for s in claimed.starts]
    assert started == ([free.id] if world.side_by_side else [held.id, free.id])


async def test_concurrent_claims_start_each_execution_once(world: World, database_url: str) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    pending = {(await world.pending(job, now - MINUTE)).id for _ in range(30)}
    engines = [create_engine(database_url) for _ in range(3)]
    want = Want(world.platform.id, "h", 30)
    try:
        claims = await asyncio.gather(
            *(
                SqlDispatchStore(engine).claim([want], timedelta(0), starting(f"s{i}"))
                for i, engine in enumerate(engines)
            )
        )
    finally:
        for engine in engines:
            await engine.dispose()

    started = Counter(s.execution.id for claimed in claims for s in claimed.starts)
    assert started == Counter(dict.fromkeys(pending, 1))


async def test_settling_applies_the_current_attempt_only(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    start = await world.running(job)
    execution = start.execution
    other_platform = await world.admin.create_platform(f"other-{new_id()[-8:]}")

    def report(attempt: int = 1, result: dict[str, bool] | None = None) -> Report:
        return Report(world.platform.id, execution.id, attempt, True, result)

    verdicts = await world.dispatch.settle(
        [
            report(2),  # a later attempt than the current one
            Report(other_platform.id, execution.id, 1, True),
            Report(world.platform.id, new_id(), 1, True),
            Report(world.platform.id, "not-an-id", 1, True),
            report(result={"ok": True}),
            report(),  # resent
        ],
        rng(),
        CAP,
    )
    again = await world.dispatch.settle([report()], rng(), CAP)

    stale, unknown = Verdict.STALE, Verdict.UNKNOWN
    assert verdicts == [stale, unknown, unknown, unknown, Verdict.APPLY, Verdict.REPEATED]
    assert again == [Verdict.REPEATED]
    row = await world.row(execution.id)
    assert (row.status, row.result, row.lease_expires_at) == ("success", {"ok": True}, None)
    counted = await world.jobs.get_job(world.platform.id, job.id)
    assert (counted.success_count, counted.failure_count) == (1, 0)
    assert counted.avg_duration_ms == row.duration_ms


async def test_a_failure_is_retried_as_the_next_attempt_then_fails(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR, max_retries=1)
    start = await world.running(job)
    execution_id = start.execution.id

    [first] = await world.dispatch.settle(
        [Report(world.platform.id, execution_id, 1, False, error="boom")], rng(), CAP
    )
    retried = await world.row(execution_id)
    stale = await world.dispatch.settle(
        [Report(world.platform.id, execution_id, 1, False)], rng(), CAP
    )

    assert (first, stale) == (Verdict.APPLY, [Verdict.STALE])
    assert (retried.status, retried.attempt, retried.retry_count) == ("pending", 2, 1)
    assert retried.due_at > now and retried.next_retry_at == retried.due_at
    assert (retried.session_id, retried.error) == (None, "boom")
    await world.dispatch.claim(
        [Want(world.platform.id, "h", 10)], timedelta(days=1), starting("s2")
    )
    await world.dispatch.settle(
        [Report(world.platform.id, execution_id, 2, False, error="boom again")], rng(), CAP
    )
    failed = await world.row(execution_id)
    assert (failed.status, failed.attempt, failed.error) == ("failed", 2, "boom again")
    assert (await world.jobs.get_job(world.platform.id, job.id)).failure_count == 1


async def test_a_result_that_is_not_retryable_fails_at_once(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR, max_retries=3)
    start = await world.running(job)

    await world.dispatch.settle(
        [Report(world.platform.id, start.execution.id, 1, False, retryable=False)], rng(), CAP
    )

    assert (await world.row(start.execution.id)).status == "failed"


async def test_a_one_time_job_fails_with_its_slot(world: World) -> None:
    now = await world.now()
    job = await world.job(None, trigger=OnceTrigger(now - MINUTE), max_retries=0)
    # What the ticker does to a one-time job: it completes as its slot fires.
    await world.jobs.update_job(
        world.platform.id, job.id, lambda j: replace(j, status=JobStatus.COMPLETED)
    )
    slot = await world.pending(job, now - MINUTE, trigger=ExecutionTrigger.SCHEDULE)
    claimed = await world.dispatch.claim(
        [Want(world.platform.id, "h", 10)], timedelta(0), starting(only={slot.id})
    )
    assert len(claimed.starts) == 1

    await world.dispatch.settle(
        [Report(world.platform.id, slot.id, 1, False, retryable=False)], rng(), CAP
    )

    assert (await world.jobs.get_job(world.platform.id, job.id)).status is JobStatus.FAILED


async def test_heartbeats_extend_only_the_holding_sessions_leases(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    mine = await world.running(job, session="s1")
    theirs = await world.running(job, session="s2")
    settled = await world.running(job, session="s1")
    await world.dispatch.settle(
        [Report(world.platform.id, settled.execution.id, 1, True)], rng(), CAP
    )
    held = [
        (mine.execution.id, "s1"),
        (theirs.execution.id, "s1"),  # another session's
        (settled.execution.id, "s1"),  # no longer running
        ("not-an-id", "s1"),
    ]

    extended = await world.dispatch.extend_leases(held, timedelta(minutes=10))

    assert extended == {(mine.execution.id, "s1")}
    row = await world.row(mine.execution.id)
    assert row.lease_expires_at >= now + timedelta(minutes=10)
    assert (await world.row(theirs.execution.id)).lease_expires_at == theirs.lease_expires_at


async def test_a_hello_rebinds_current_attempts_and_releases_the_unnamed(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    named = await world.running(job, session="old", worker="w1")
    unnamed = await world.running(job, session="old", worker="w1")
    other_worker = await world.running(job, session="x", worker="w2")
    stale = await world.running(job, session="old", worker="w1")
    await world.dispatch.release_attempts([(stale.execution.id, 1)])

    kept, released = await world.dispatch.rebind(
        world.platform.id,
        ("new", "w1"),
        [(named.execution.id, 1), (stale.execution.id, 1)],
        timedelta(minutes=10),
    )

    assert kept == {named.execution.id}
    assert released == [(unnamed.execution.id, world.platform.id)]
    row = await world.row(named.execution.id)
    assert (row.session_id, row.status, row.attempt) == ("new", "running", 1)
    assert row.lease_expires_at >= now + timedelta(minutes=10)
    back = await world.row(unnamed.execution.id)
    assert (back.status, back.attempt, back.retry_count, back.session_id) == ("pending", 2, 0, None)
    assert (await world.row(other_worker.execution.id)).session_id == "x"
    assert (await world.row(stale.execution.id)).status == "pending"


async def test_releasing_sessions_hands_work_back(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR, max_retries=1)
    drained = await world.running(job, session="drained")
    lost = await world.running(job, session="lost")
    elsewhere = await world.running(job, session="kept")

    handed_back = await world.dispatch.release_sessions(["drained"], worker_lost=False)
    lost_back = await world.dispatch.release_sessions(["lost"], worker_lost=True)

    assert handed_back == [(drained.execution.id, world.platform.id)]
    assert lost_back == [(lost.execution.id, world.platform.id)]
    first = await world.row(drained.execution.id)
    assert (first.status, first.attempt, first.retry_count, first.session_id) == (
        "pending",
        2,
        0,
        None,
    )
    second = await world.row(lost.execution.id)
    assert (second.status, second.attempt, second.retry_count) == ("pending", 2, 1)
    assert (await world.row(elsewhere.execution.id)).status == "running"
    assert await world.dispatch.release_sessions([], worker_lost=True) == []


async def test_a_lost_worker_without_retries_left_fails_its_execution(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR, max_retries=0)
    lost = await world.running(job, session="lost")

    await world.dispatch.release_sessions(["lost"], worker_lost=True)

    assert (await world.row(lost.execution.id)).status == "failed"
    assert (await world.jobs.get_job(world.platform.id, job.id)).failure_count == 1


async def test_releasing_attempts_is_fenced_by_attempt(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    start = await world.running(job)
    execution_id = start.execution.id

    await world.dispatch.release_attempts([(execution_id, 1)])
    await world.dispatch.claim([Want(world.platform.id, "h", 10)], timedelta(0), starting("s2"))
    await world.dispatch.release_attempts([(execution_id, 1)])  # late: attempt 2 runs now

    row = await world.row(execution_id)
    assert (row.status, row.attempt, row.session_id, row.retry_count) == ("running", 2, "s2", 0)


async def test_reaping_returns_expired_leases_and_times_out_late_executions(
    world: World,
) -> None:
    now = await world.now()
    job = await world.job(now + HOUR, max_retries=0)
    retrying = await world.job(now + HOUR, max_retries=2, handler_name="r")
    expired = await world.running(job, lease=-MINUTE)
    timed_out = await world.running(job, deadline=-MINUTE)
    retried = await world.running(retrying, deadline=-MINUTE)
    healthy = await world.running(job)

    reaped = await world.dispatch.reap(10, rng(), CAP)

    assert reaped.expired == [(expired.execution.id, world.platform.id)]
    assert sorted(s.held.id for s in reaped.timed_out) == sorted(
        [timed_out.execution.id, retried.execution.id]
    )
    assert (await world.row(expired.execution.id)).status == "failed"  # no retry left
    assert (await world.row(timed_out.execution.id)).status == "timeout"
    again = await world.row(retried.execution.id)
    assert (again.status, again.attempt, again.retry_count) == ("pending", 2, 1)
    assert (await world.row(healthy.execution.id)).status == "running"
    assert await world.dispatch.reap(10, rng(), CAP) == Reaped()


async def test_reaping_takes_at_most_the_limit(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    for _ in range(3):
        await world.running(job, lease=-MINUTE)

    assert len((await world.dispatch.reap(2, rng(), CAP)).expired) == 2
    assert len((await world.dispatch.reap(2, rng(), CAP)).expired) == 1


async def test_a_lost_lease_with_retries_left_runs_again_at_once(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR, max_retries=1)
    expired = await world.running(job, lease=-MINUTE)

    await world.dispatch.reap(10, rng(), CAP)

    row = await world.row(expired.execution.id)
    assert (row.status, row.attempt, row.retry_count) == ("pending", 2, 1)
    assert row.due_at <= await world.now()


async def test_logs_of_executions_gone_are_dropped_and_the_others_kept(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    kept = await world.running(job)
    gone = await world.job(now + HOUR)
    doomed = await world.running(gone)
    await world.jobs.delete_job(world.platform.id, gone.id)

    def line(execution_id: str, message: str) -> ExecutionLog:
        return ExecutionLog(execution_id, now, LogLevel.INFO, message, 1)

    await world.dispatch.add_logs(
        [line(kept.execution.id, "a\x00b"), line(doomed.execution.id, "lost"), line("bad", "x")]
    )

    async with world.engine.connect() as conn:
        rows = (await conn.execute(select(job_execution_logs))).all()
        assert [(r.execution_id, r.message) for r in rows] == [(kept.execution.id, "a\ufffdb")]
        count = select(func.count()).select_from(job_executions)
        assert (await conn.execute(count)).scalar_one() == 1
