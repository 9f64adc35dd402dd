"""AdminStore, ExecutionStore and InsightStore, as their docstrings promise."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cronstream_server.core import executions as execution_rules
from cronstream_server.core.enums import ExecutionStatus, JobStatus, JobType, LogLevel
from cronstream_server.core.errors import AlreadyExists, NotFound, Unavailable
from cronstream_server.core.executions import Execution, ExecutionLog
from cronstream_server.core.ids import new_id
from cronstream_server.core.insight import HealthStatus
from cronstream_server.core.jobs import Job
from cronstream_server.core.paging import PageRequest, sort_key
from cronstream_server.core.ports import ExecutionFilter
from cronstream_server.core.tenancy import new_secret
from cronstream_server.store import insight as insight_store
from cronstream_server.store.admin import SqlAdminStore
from cronstream_server.store.insight import SqlInsightStore
from sqlalchemy.ext.asyncio import create_async_engine

from tests.contract.conftest import HOUR, World

FIRST = PageRequest(10, None)


async def test_platforms_are_unique_by_name_and_paged_oldest_first(world: World) -> None:
    with pytest.raises(AlreadyExists):
        await world.admin.create_platform(world.platform.name)
    second = await world.admin.create_platform("second")
    assert await world.admin.find_platform_by_name("second") == second
    assert await world.admin.find_platform_by_name("nobody") is None
    for missing in (new_id(), "not-an-id"):
        with pytest.raises(NotFound):
            await world.admin.get_platform(missing)

    page, last = await world.admin.list_platforms(PageRequest(1, None))
    rest, end = await world.admin.list_platforms(
        PageRequest(1, sort_key(page[0].created_at, page[0].id))
    )

    assert (page, last, rest, end) == ([world.platform], world.platform, [second], None)


async def test_deleting_a_platform_takes_everything_it_owns(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    key = await world.admin.create_api_key(world.platform.id, "k", new_secret())

    await world.admin.delete_platform(world.platform.id)

    with pytest.raises(NotFound):
        await world.jobs.get_job(world.platform.id, job.id)
    assert await world.admin.live_keys([key.id]) == set()
    with pytest.raises(NotFound):
        await world.admin.delete_platform(world.platform.id)


async def test_api_keys_are_stored_hashed_revoked_once_and_checked(world: World) -> None:
    secret = new_secret()
    key = await world.admin.create_api_key(world.platform.id, "k", secret)
    other = await world.admin.create_api_key(world.platform.id, "o", new_secret())
    with pytest.raises(NotFound):
        await world.admin.create_api_key(new_id(), "k", new_secret())

    principal = await world.admin.authenticate(secret.secret_hash)
    assert principal is not None and (principal.key_id, principal.platform_id) == (
        key.id,
        world.platform.id,
    )
    assert await world.admin.authenticate(secret.secret) is None  # only the hash matches
    revoked = await world.admin.revoke_api_key(key.id)
    assert revoked.revoked_at is not None
    assert (await world.admin.revoke_api_key(key.id)).revoked_at == revoked.revoked_at
    assert await world.admin.authenticate(secret.secret_hash) is None
    assert await world.admin.live_keys([key.id, other.id, "bad"]) == {other.id}
    keys, _ = await world.admin.list_api_keys(world.platform.id, FIRST)
    assert [k.id for k in keys] == [key.id, other.id]
    await world.admin.ping()


async def test_an_unreachable_database_is_unavailable_and_unhealthy(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db")
    try:
        with pytest.raises(Unavailable):
            await SqlAdminStore(engine).ping()
        health = await SqlInsightStore(engine).database_health(timedelta(seconds=2))
    finally:
        await engine.dispose()
    assert health.status is HealthStatus.NOT_SERVING and health.message


async def test_executions_are_the_platforms_own_and_listed_newest_first(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    other_job = await world.job(now + HOUR)
    first = await world.pending(job, now)
    done = await world.pending(job, now, status=ExecutionStatus.SUCCESS)
    theirs = await world.pending(other_job, now)
    other = await world.admin.create_platform(f"other-{new_id()[-8:]}")

    assert await world.executions.get(world.platform.id, first.id) == first
    with pytest.raises(NotFound):
        await world.executions.get(other.id, first.id)
    everything, _ = await world.executions.list_executions(
        world.platform.id, ExecutionFilter(), FIRST
    )
    assert [e.id for e in everything] == [theirs.id, done.id, first.id]
    of_job, _ = await world.executions.list_executions(
        world.platform.id, ExecutionFilter(job.id, (ExecutionStatus.PENDING,)), FIRST
    )
    assert [e.id for e in of_job] == [first.id]


async def test_inserting_executions_of_a_deleted_job_is_not_found(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    await world.jobs.delete_job(world.platform.id, job.id)

    with pytest.raises(NotFound):
        await world.executions.insert_many([world.execution(job, at=now)])


async def test_an_execution_update_is_stored(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    made = await world.pending(job, now)

    after = await world.executions.update(
        world.platform.id, made.id, lambda e: execution_rules.cancel_by_user(e, now)
    )

    assert await world.executions.get(world.platform.id, made.id) == after
    assert after.status is ExecutionStatus.CANCELLED


async def test_logs_are_paged_oldest_first(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    start = await world.running(job)
    lines = [ExecutionLog(start.execution.id, now, LogLevel.INFO, f"l{i}", 1) for i in range(3)]
    await world.dispatch.add_logs(lines)

    page, last = await world.executions.list_logs(
        world.platform.id, start.execution.id, PageRequest(2, None)
    )
    rest, end = await world.executions.list_logs(
        world.platform.id, start.execution.id, PageRequest(2, (str(last),))
    )

    assert [line.message for line in page + rest] == ["l0", "l1", "l2"]
    assert last == page[-1].id and end is None


async def test_running_a_job_stores_the_execution_made_from_it(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)

    def make(stored: Job) -> Execution:
        return world.execution(stored, at=now)

    made = await world.jobs.run_job(world.platform.id, job.id, make)

    assert await world.executions.get(world.platform.id, made.id) == made
    assert (await world.jobs.get_job(world.platform.id, job.id)).executions_count == 1

    def refuse(_: Job) -> Execution:
        raise RuntimeError("cannot run")

    with pytest.raises(RuntimeError):
        await world.jobs.run_job(world.platform.id, job.id, refuse)
    with pytest.raises(NotFound):
        await world.jobs.run_job(world.platform.id, new_id(), make)
    assert (await world.jobs.get_job(world.platform.id, job.id)).executions_count == 1


async def test_figures_count_a_jobs_executions_and_a_platforms_queue(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    await world.job(now + HOUR, status=JobStatus.PAUSED)
    for ms in (100, 300):
        await world.pending(job, now, status=ExecutionStatus.SUCCESS, duration_ms=ms)
    await world.pending(job, now, status=ExecutionStatus.FAILED)
    await world.pending(job, now - HOUR)  # queued
    await world.pending(job, now + HOUR)  # not due yet

    figures = await world.insight.job_figures(world.platform.id, job.id)
    platform = await world.insight.platform_figures(world.platform.id, now)

    assert figures.by_status == {
        ExecutionStatus.SUCCESS: 2,
        ExecutionStatus.FAILED: 1,
        ExecutionStatus.PENDING: 2,
    }
    assert (figures.avg_duration_ms, figures.p95_duration_ms) == (200, 300)
    assert platform.jobs_by_status == {JobStatus.ACTIVE: 1, JobStatus.PAUSED: 1}
    assert platform.jobs_by_type == {JobType.RECURRING: 2}
    assert platform.queue_depth == 1
    health = await world.insight.database_health()
    assert health.status is HealthStatus.SERVING and health.latency is not None


async def test_p95_of_a_job_is_its_latest_successes_as_in_its_figures(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(insight_store, "P95_SAMPLE_LIMIT", 4)
    now = await world.now()
    job, other = await world.job(now + HOUR), await world.job(now + HOUR)
    assert await world.insight.p95_duration_ms(world.platform.id, job.id) is None
    # Oldest first: the two slow ones fall out of a sample of the latest four.
    for index, ms in enumerate((90_000, 80_000, 10, 40, 20, 30)):
        at = now + timedelta(seconds=index)
        await world.pending(job, at, status=ExecutionStatus.SUCCESS, duration_ms=ms, created_at=at)
    await world.pending(job, now, status=ExecutionStatus.FAILED, duration_ms=10**7)
    await world.pending(other, now, status=ExecutionStatus.SUCCESS, duration_ms=10**7)

    p95 = await world.insight.p95_duration_ms(world.platform.id, job.id)

    assert p95 == 40
    assert p95 == (await world.insight.job_figures(world.platform.id, job.id)).p95_duration_ms
    assert await world.insight.p95_duration_ms(new_id(), job.id) is None  # another platform's
