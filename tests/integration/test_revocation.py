"""Revoking a key (or deleting a platform) ends the worker streams it opened,
on every replica, with UNAUTHENTICATED; their work goes to other workers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import grpc
import pytest
from cronstream.v1 import admin_service_pb2 as admin_pb
from cronstream.v1 import execution_pb2

from tests.conftest import ADMIN, Live, Tenant, make_tenant
from tests.integration.worker_harness import (
    RawWorker,
    make_job,
    run,
    short_lease_server,
    status_becomes,
)
from tests.status import expect_code

SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    async with short_lease_server(database_url) as server:
        yield server


async def second_key(live: Live, tenant: Tenant) -> tuple[str, Tenant]:
    created = await live.admin.CreateApiKey(
        admin_pb.CreateApiKeyRequest(platform_id=tenant.platform.id, name="second"),
        metadata=ADMIN,
    )
    return created.api_key.id, Tenant(platform=tenant.platform, secret=created.secret)


async def test_revoking_a_key_ends_its_open_stream_and_hands_its_work_on(
    live: Live, tenant: Tenant
) -> None:
    key_id, revoked = await second_key(live, tenant)
    doomed = await RawWorker.connect(live, revoked, worker_id="doomed")
    job = await make_job(live, tenant)
    execution = await run(live, tenant, job.id)
    assignment = await doomed.expect("assignment")
    assert assignment.execution_id == execution.id
    survivor = await RawWorker.connect(live, tenant, worker_id="survivor")

    started = time.monotonic()
    await live.admin.RevokeApiKey(admin_pb.RevokeApiKeyRequest(id=key_id), metadata=ADMIN)

    assert await doomed.ended(within=5.0) == UNAUTHENTICATED
    assert time.monotonic() - started < 2.0  # the revocation signal, not the periodic check
    # What the revoked worker held runs again, on a worker whose key still holds.
    again = await survivor.expect("assignment")
    assert (again.execution_id, again.attempt) == (execution.id, 2)
    await survivor.succeed(again, done=True)
    await status_becomes(live, tenant, execution.id, SUCCESS)
    # ... and the revoked key cannot open a new stream.
    await expect_code(live.workers.Connect(metadata=revoked.auth).read(), UNAUTHENTICATED)
    await survivor.close()


async def test_deleting_a_platform_ends_its_streams_only(live: Live, tenant: Tenant) -> None:
    other = await make_tenant(live, "other")
    doomed = await RawWorker.connect(live, tenant, worker_id="doomed")
    bystander = await RawWorker.connect(live, other, worker_id="bystander")

    await live.admin.DeletePlatform(
        admin_pb.DeletePlatformRequest(id=tenant.platform.id), metadata=ADMIN
    )

    assert await doomed.ended(within=5.0) == UNAUTHENTICATED
    job = await make_job(live, other)
    await run(live, other, job.id)
    assert (await bystander.expect("assignment")).job_id == job.id
    await bystander.close()


async def test_a_key_revoked_on_another_replica_ends_the_stream_here(
    live: Live, tenant: Tenant
) -> None:
    # Two replicas on one database and no Redis between them: no signal
    # crosses, so the periodic check against the database must do it.
    key_id, revoked = await second_key(live, tenant)
    worker = await RawWorker.connect(live, revoked)
    async with short_lease_server(live.database_url) as elsewhere:
        started = time.monotonic()
        await elsewhere.admin.RevokeApiKey(admin_pb.RevokeApiKeyRequest(id=key_id), metadata=ADMIN)
        assert await worker.ended(within=6.0) == UNAUTHENTICATED
        assert time.monotonic() - started < 4.0  # within two key checks (2 s apart)


async def test_streams_of_keys_that_still_hold_are_left_alone(live: Live, tenant: Tenant) -> None:
    key_id, _ = await second_key(live, tenant)
    worker = await RawWorker.connect(live, tenant)
    await live.admin.RevokeApiKey(admin_pb.RevokeApiKeyRequest(id=key_id), metadata=ADMIN)
    await worker.quiet(2.5)  # past one periodic check: nothing sent, stream open
    job = await make_job(live, tenant)
    await run(live, tenant, job.id)
    await worker.expect("assignment")
    await worker.close()
