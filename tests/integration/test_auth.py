"""Who may call what: the key decides, and every service checks it."""

from __future__ import annotations

import grpc
import pytest
from cronstream.v1 import admin_service_pb2 as admin_pb
from cronstream.v1 import scheduler_service_pb2 as scheduler_pb

from tests.conftest import ADMIN, Live, Tenant, bearer
from tests.status import code_of, expect_code

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
BAD_CREDENTIALS = [
    pytest.param((), id="missing"),
    pytest.param(bearer("cs_not-a-real-key"), id="unknown-key"),
    pytest.param((("authorization", "Basic dXNlcjpwYXNz"),), id="wrong-scheme"),
    pytest.param((("authorization", "Bearer "),), id="empty-bearer"),
]


@pytest.mark.parametrize("metadata", BAD_CREDENTIALS)
async def test_admin_calls_without_the_admin_key_are_refused(
    live: Live, metadata: tuple[tuple[str, str], ...]
) -> None:
    error = await expect_code(
        live.admin.ListPlatforms(admin_pb.ListPlatformsRequest(), metadata=metadata),
        UNAUTHENTICATED,
    )
    assert "Traceback" not in (error.details() or "")


async def test_a_platform_key_is_not_an_admin_key(live: Live, tenant: Tenant) -> None:
    await expect_code(
        live.admin.ListPlatforms(admin_pb.ListPlatformsRequest(), metadata=tenant.auth),
        UNAUTHENTICATED,
    )
    await expect_code(
        live.admin.CreatePlatform(
            admin_pb.CreatePlatformRequest(platform=admin_pb.Platform(name="sneaky")),
            metadata=tenant.auth,
        ),
        UNAUTHENTICATED,
    )


@pytest.mark.parametrize("metadata", [*BAD_CREDENTIALS, pytest.param(ADMIN, id="admin-key")])
async def test_scheduler_calls_need_a_platform_key(
    live: Live, metadata: tuple[tuple[str, str], ...]
) -> None:
    await expect_code(
        live.scheduler.GetMetrics(scheduler_pb.GetMetricsRequest(), metadata=metadata),
        UNAUTHENTICATED,
    )


async def test_worker_stream_needs_a_platform_key(live: Live) -> None:
    call = live.workers.Connect(metadata=bearer("cs_wrong"))
    await expect_code(call.read(), UNAUTHENTICATED)


async def test_a_platform_key_passes_authentication(live: Live, tenant: Tenant) -> None:
    code = await code_of(
        live.scheduler.GetMetrics(scheduler_pb.GetMetricsRequest(), metadata=tenant.auth)
    )
    assert code == grpc.StatusCode.OK
