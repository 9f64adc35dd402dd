"""The Python `Client`'s views for a dashboard or terminal against a live
server, on SQLite and Postgres: the text filter, recent runs, log tails that
follow a running execution, an execution's due time and lease, and the admin
key acting for a platform."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from cronstream import (
    Client,
    Context,
    ExecutionStatus,
    JobRecentRuns,
    LogLine,
    NotFoundError,
    PermissionDeniedError,
    Worker,
)
from cronstream._backoff import Backoff

from tests.conftest import ADMIN_KEY, Live, Tenant, make_tenant

T = TypeVar("T")
YEARLY = "0 3 1 1 *"  # far from any test run's clock: never fires meanwhile
WAIT = 30.0


@pytest.fixture
async def client(live: Live, tenant: Tenant) -> AsyncIterator[Client]:
    async with Client.connect(live.address, tenant.secret) as client:
        yield client


async def collect(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]


def worker_for(live: Live, tenant: Tenant) -> Worker:
    return Worker(
        api_key=tenant.secret,
        target=live.address,
        worker_id="py-views",
        backoff=Backoff(base=0.05, cap=0.5),
        grace_period=10.0,
    )


async def stopped(worker: Worker, task: asyncio.Task[None]) -> None:
    worker.stop()
    await asyncio.wait_for(task, WAIT)


async def test_list_jobs_by_text(client: Client) -> None:
    for name in ("Disk 50% alert", "disk cleanup", "report"):
        await client.create_job(name=name, handler="h", cron=YEARLY)
    names = [job.name async for job in client.list_jobs(text="DISK", page_size=1)]
    assert names == ["disk cleanup", "Disk 50% alert"]
    assert [job.name async for job in client.list_jobs(text="50%")] == ["Disk 50% alert"]


async def test_follow_logs_tails_a_running_execution_until_it_ends(
    live: Live, tenant: Tenant, client: Client
) -> None:
    worker = worker_for(live, tenant)
    release = asyncio.Event()

    @worker.handler("steps")
    async def steps(ctx: Context) -> dict[str, Any]:
        await ctx.log("first")
        await ctx.log("second")
        await release.wait()
        await ctx.log("last", "warn")
        return {}

    job = await client.create_job(name="steps", handler="steps", cron=YEARLY)
    task = asyncio.create_task(worker.run())
    execution = await client.run_job(job.id)
    seen: list[LogLine] = []

    async def follow() -> None:
        async for line in client.follow_logs(execution.id, poll_interval=0.05):
            seen.append(line)
            if line.message == "second":
                release.set()  # the tail saw the lines of a running execution

    await asyncio.wait_for(follow(), WAIT)
    assert [line.message for line in seen] == ["first", "second", "last"]
    assert [line.level.name for line in seen] == ["INFO", "INFO", "WARN"]
    sequences = [line.sequence for line in seen]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3
    assert (await client.get_execution(execution.id)).status is ExecutionStatus.SUCCESS

    after_first = await collect(
        client.list_execution_logs(execution.id, after_sequence=sequences[0], page_size=1)
    )
    assert [line.message for line in after_first] == ["second", "last"]
    await stopped(worker, task)


async def test_recent_runs_and_an_executions_due_time_and_lease(
    live: Live, tenant: Tenant, client: Client
) -> None:
    worker = worker_for(live, tenant)
    started = asyncio.Event()
    release = asyncio.Event()

    @worker.handler("work")
    async def work(ctx: Context) -> dict[str, Any]:
        started.set()
        await release.wait()
        return {}

    job = await client.create_job(name="work", handler="work", cron=YEARLY)
    quiet = await client.create_job(name="quiet", handler="none", cron=YEARLY)
    task = asyncio.create_task(worker.run())
    first = await client.run_job(job.id)
    assert first.due_at == first.scheduled_at and first.lease_expires_at is None
    await asyncio.wait_for(started.wait(), WAIT)
    running = await client.get_execution(first.id)
    assert running.status is ExecutionStatus.RUNNING
    assert running.lease_expires_at is not None and running.started_at is not None
    assert running.lease_expires_at > running.started_at
    release.set()
    done = await _ended(client, first.id)
    assert done.lease_expires_at is None

    answer = await client.get_recent_runs([quiet.id, job.id, "nope"], limit=5)
    assert [entry.job_id for entry in answer] == [quiet.id, job.id, "nope"]
    assert all(isinstance(entry, JobRecentRuns) for entry in answer)
    assert answer[0].runs == () and answer[2].runs == ()
    [run] = answer[1].runs
    assert (run.execution_id, run.status) == (first.id, ExecutionStatus.SUCCESS)
    assert run.scheduled_at == first.scheduled_at
    assert run.duration is not None and run.lateness is not None
    assert timedelta(0) <= run.lateness < timedelta(seconds=WAIT)
    await stopped(worker, task)


async def _ended(client: Client, execution_id: str) -> Any:
    deadline = datetime.now(UTC) + timedelta(seconds=WAIT)
    while datetime.now(UTC) < deadline:
        found = await client.get_execution(execution_id)
        if found.status.final:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("the execution did not end")


async def test_the_admin_key_acts_for_the_platform_given(live: Live, tenant: Tenant) -> None:
    other = await make_tenant(live, "other")
    async with Client.connect(live.address, other.secret) as theirs:
        await theirs.create_job(name="theirs", handler="h", cron=YEARLY)
    async with Client.connect(live.address, ADMIN_KEY, platform=tenant.platform.id) as admin:
        created = await admin.create_job(name="by the operator", handler="h", cron=YEARLY)
        assert created.platform_id == tenant.platform.id
        assert [job.name async for job in admin.list_jobs()] == ["by the operator"]
    async with Client.connect(live.address, ADMIN_KEY, platform=other.platform.id) as admin:
        assert [job.name async for job in admin.list_jobs()] == ["theirs"]
    missing = "0190a5b4-0000-7000-8000-000000000000"
    async with Client.connect(live.address, ADMIN_KEY, platform=missing) as admin:
        with pytest.raises(NotFoundError):
            await collect(admin.list_jobs())
    async with Client.connect(live.address, tenant.secret, platform=other.platform.id) as key:
        with pytest.raises(PermissionDeniedError):
            await collect(key.list_jobs())
