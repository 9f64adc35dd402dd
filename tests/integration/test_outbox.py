"""A worker that stops reading is sent no more than a session's outbox holds:
the rest of its work stays pending in the database, not in the server's memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from cronstream.v1 import execution_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream.v1 import worker_service_pb2 as wpb
from cronstream.v1.worker_service_pb2_grpc import WorkerServiceStub
from cronstream_server.engine.session import MAX_UNSENT_BYTES
from google.protobuf import struct_pb2

from tests.conftest import Live, Tenant
from tests.integration.worker_harness import make_job, short_lease_server

PAYLOAD_BYTES = 250 * 1024
EXECUTIONS = 120  # 30 MB of assignments, for a worker with 10,000 slots


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    async with short_lease_server(database_url, lease_seconds=60.0) as server:
        yield server


async def running_count(live: Live, tenant: Tenant) -> int:
    """Executions started, over every page (a page holds ~16 of these sizes)."""
    count, token = 0, None
    while token != "":
        listed = await live.scheduler.ListExecutions(
            pb.ListExecutionsRequest(
                statuses=[execution_pb2.EXECUTION_STATUS_RUNNING], page_token=token or ""
            ),
            metadata=tenant.auth,
        )
        count, token = count + len(listed.executions), listed.next_page_token
    return count


async def test_a_stalled_worker_pins_a_bounded_number_of_assignments(
    live: Live, tenant: Tenant
) -> None:
    payload = struct_pb2.Struct()
    payload.update({"blob": "x" * PAYLOAD_BYTES})
    job = await make_job(live, tenant, payload=payload)
    for _ in range(EXECUTIONS):
        await live.scheduler.RunJob(pb.RunJobRequest(id=job.id), metadata=tenant.auth)

    # A worker that reads its welcome and nothing more: gRPC's flow control
    # soon holds the server's writes.
    # Its channel does not grow its HTTP/2 windows (BDP probing off), so what
    # the transport holds stays small and the outbox's bound shows.
    channel = grpc.aio.insecure_channel(live.address, options=[("grpc.http2.bdp_probe", 0)])
    stalled = WorkerServiceStub(channel).Connect(metadata=tenant.auth)
    hello = wpb.WorkerHello(worker_id="stalled", handler_names=["h"], slots=10_000)
    await stalled.write(wpb.ConnectRequest(hello=hello))
    assert (await stalled.read()).HasField("welcome")
    # Dispatch rounds run meanwhile, and the transport's windows fill in
    # steps (slower on a busy machine): watch the count for a while.
    counts = []
    for _ in range(8):
        await asyncio.sleep(1.0)
        counts.append(await running_count(live, tenant))
    # What it holds: the outbox's bytes, plus what the HTTP/2 windows took;
    # without the outbox's bound all of them go.
    bound = (MAX_UNSENT_BYTES + 2 * 1024 * 1024) // PAYLOAD_BYTES
    assert 0 < max(counts) <= bound < EXECUTIONS, counts
    stalled.cancel()
    await channel.close()
