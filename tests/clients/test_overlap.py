"""Overlap policies with a real worker: BUFFER_ONE runs one at a time, with one
waiting behind it; SKIP never starts a slot while the previous one runs."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cronstream import Client, Context
from cronstream.v1 import execution_pb2

from tests.clients.test_python_worker import live_worker, running
from tests.conftest import Live, Tenant

SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS
SKIPPED = execution_pb2.EXECUTION_STATUS_SKIPPED


@pytest.mark.parametrize("policy", ["buffer_one", "skip"])
async def test_overlapping_slots_never_run_side_by_side(
    live: Live, tenant: Tenant, policy: str
) -> None:
    worker = live_worker(live, tenant, slots=5)
    active = 0
    most = 0

    @worker.handler("slow")
    async def slow(ctx: Context) -> dict[str, Any]:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.9)
        active -= 1
        return {}

    async with Client.connect(live.address, tenant.secret) as client, running(worker):
        start = datetime.now(UTC) + timedelta(seconds=0.5)
        job = await client.create_job(
            name="slow",
            handler="slow",
            every=timedelta(seconds=0.3),
            start_at=start,
            max_runs=8,
            overlap_policy=policy,
        )
        statuses = await _settled(client, job.id, expected=8)

    assert most == 1  # never two runs of the job at once, with five free slots
    assert statuses[SUCCESS] >= 2 and statuses[SKIPPED] >= 3
    if policy == "buffer_one":
        # Each finished run let the one waiting behind it start.
        assert statuses[SUCCESS] >= 3


async def _settled(client: Client, job_id: str, expected: int) -> Counter[int]:
    async with asyncio.timeout(30):
        while True:
            statuses = Counter([e.status async for e in client.list_executions(job_id=job_id)])
            if (
                sum(statuses.values()) == expected
                and statuses[SUCCESS] + statuses[SKIPPED] == expected
            ):
                return statuses
            await asyncio.sleep(0.1)
