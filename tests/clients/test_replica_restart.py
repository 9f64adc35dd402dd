"""A server restarted under connected workers: they reconnect, and every
execution completes exactly once — none lost, none run twice to completion."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cronstream import Client, Context, CronstreamError, Worker
from cronstream.v1 import execution_pb2

from tests.clients.test_python_worker import running
from tests.e2e.processes import free_port, start_cronstream, wait_until_serving
from tests.e2e.test_docs import make_platform_key

ADMIN_KEY = "cs_admin_restart"
JOBS = 30
SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS


async def test_workers_ride_through_a_server_restart(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "CRONSTREAM_ADMIN_KEY": ADMIN_KEY,
        "CRONSTREAM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}",
        "CRONSTREAM_SHUTDOWN_GRACE_SECONDS": "3",
    }
    server = start_cronstream(["serve", "--migrate"], tmp_path, env, port=port)
    await asyncio.to_thread(wait_until_serving, server.address)
    api_key = await asyncio.to_thread(make_platform_key, server.address, ADMIN_KEY, "restart")
    completed: list[str] = []
    worker = Worker(api_key=api_key, target=server.address, worker_id="rider", slots=4)

    @worker.handler("ride")
    async def ride(ctx: Context) -> dict[str, Any]:
        await asyncio.sleep(0.3)
        completed.append(ctx.execution_id)
        return {"attempt": ctx.attempt}

    async with Client.connect(server.address, api_key) as client:
        start = datetime.now(UTC) + timedelta(seconds=1)
        jobs = [
            await client.create_job(
                name=f"ride {i}", handler="ride", once=start + timedelta(milliseconds=100 * i)
            )
            for i in range(JOBS)
        ]
        async with running(worker):
            await asyncio.sleep(1.8)  # some done, some running, some not yet due
            # SIGTERM: drain, grace, hand back. In a thread: the worker shares
            # this event loop and must go on running meanwhile.
            assert await asyncio.to_thread(server.terminate) == 0
            server = start_cronstream(["serve"], tmp_path, env, port=port)
            await asyncio.to_thread(wait_until_serving, server.address)
            finals = await _all_finished(client, [job.id for job in jobs])
        await asyncio.to_thread(server.terminate)

    assert Counter(e.status for e in finals) == {SUCCESS: JOBS}
    assert sorted(completed) == sorted(e.id for e in finals)  # each ran to completion once
    assert "Traceback" not in server.log


async def _all_finished(client: Client, job_ids: list[str]) -> list[execution_pb2.Execution]:
    async with asyncio.timeout(60):
        while True:
            finals: list[execution_pb2.Execution] = []
            for job_id in job_ids:
                try:
                    finals.extend(
                        [
                            e
                            async for e in client.list_executions(job_id=job_id)
                            if e.status == SUCCESS
                        ]
                    )
                except CronstreamError:
                    break  # the server is restarting
            if len(finals) == len(job_ids):
                return finals
            await asyncio.sleep(0.2)
