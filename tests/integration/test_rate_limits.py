"""Rate limits over real gRPC and real worker streams, on SQLite and Postgres:
SetRateLimit / ListRateLimits / DeleteRateLimit, and token buckets that
space executions' starts, per key (as written, one bucket per expansion) and
per handler, each platform's its own (docs/scheduling.md#rate-limits)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc
from cronstream.v1 import execution_pb2, rate_limit_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from google.protobuf import struct_pb2

from tests.conftest import Live, Tenant, make_tenant
from tests.integration.limit_helpers import (
    executions_of,
    next_assignment,
    run_times,
    started,
)
from tests.integration.worker_harness import RawWorker, eventually, make_job
from tests.jobs import seconds
from tests.status import expect_code, violations

SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS


async def _set(live: Live, tenant: Tenant, **fields: Any) -> rate_limit_pb2.RateLimit:
    response = await live.scheduler.SetRateLimit(
        pb.SetRateLimitRequest(rate_limit=rate_limit_pb2.RateLimit(**fields)), metadata=tenant.auth
    )
    return response.rate_limit


async def _list(live: Live, tenant: Tenant) -> list[rate_limit_pb2.RateLimit]:
    response = await live.scheduler.ListRateLimits(pb.ListRateLimitsRequest(), metadata=tenant.auth)
    return list(response.rate_limits)


async def _run_all(live: Live, tenant: Tenant, worker: RawWorker, count: int) -> None:
    """Succeeds `count` assignments as they come."""
    for _ in range(count):
        await worker.succeed(await next_assignment(worker, within=10.0))


async def test_set_list_replace_and_delete(live: Live, tenant: Tenant) -> None:
    created = await _set(live, tenant, key="api:{payload.customer}", limit=5, per=seconds(1))
    assert (created.key, created.limit, created.burst) == ("api:{payload.customer}", 5, 5)
    assert created.per.ToTimedelta() == timedelta(seconds=1)
    assert created.platform_id == tenant.platform.id
    await _set(live, tenant, handler_name="billing", limit=1, per=seconds(60), burst=3)
    await _set(live, tenant, key="a-first", limit=1, per=seconds(1))
    listed = await _list(live, tenant)
    assert [(r.WhichOneof("scope"), r.key or r.handler_name) for r in listed] == [
        ("key", "a-first"),
        ("key", "api:{payload.customer}"),
        ("handler_name", "billing"),
    ]
    replaced = await _set(live, tenant, key="api:{payload.customer}", limit=9, per=seconds(2))
    assert (replaced.limit, replaced.burst) == (9, 9)
    assert replaced.created_at == created.created_at
    assert replaced.updated_at.ToDatetime() >= created.updated_at.ToDatetime()
    await live.scheduler.DeleteRateLimit(
        pb.DeleteRateLimitRequest(handler_name="billing"), metadata=tenant.auth
    )
    await expect_code(
        live.scheduler.DeleteRateLimit(
            pb.DeleteRateLimitRequest(handler_name="billing"), metadata=tenant.auth
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert len(await _list(live, tenant)) == 2


async def test_bad_limits_are_refused_with_every_field(live: Live, tenant: Tenant) -> None:
    error = await expect_code(
        live.scheduler.SetRateLimit(
            pb.SetRateLimitRequest(
                rate_limit=rate_limit_pb2.RateLimit(
                    key="x:{y}", limit=0, per=seconds(86_401), burst=2_000_000
                )
            ),
            metadata=tenant.auth,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {
        "rate_limit.key",
        "rate_limit.limit",
        "rate_limit.per",
        "rate_limit.burst",
    }
    error = await expect_code(
        live.scheduler.SetRateLimit(
            pb.SetRateLimitRequest(rate_limit=rate_limit_pb2.RateLimit(limit=1, per=seconds(1))),
            metadata=tenant.auth,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violations(error) == {"rate_limit.scope": "set one of key or handler_name"}


async def test_a_key_limit_spaces_the_starts_as_its_bucket_refills(
    live: Live, tenant: Tenant
) -> None:
    await _set(live, tenant, key="api", limit=5, per=seconds(1))
    job = await make_job(live, tenant, rate_limit_key="api")
    await run_times(live, tenant, job.id, 15)
    worker = await RawWorker.connect(live, tenant, slots=15)
    await _run_all(live, tenant, worker, 15)
    await eventually(lambda: _succeeded(live, tenant, job.id, 15))
    starts = started(await executions_of(live, tenant, job.id, SUCCESS))
    # A burst of 5, then one every 200 ms: the fifteenth starts 2 s after the first.
    assert starts[-1] - starts[0] >= timedelta(seconds=1.9)
    assert starts[4] - starts[0] < timedelta(seconds=0.5)
    for first in starts:  # the bucket's bound: in any second, burst + rate
        assert sum(first <= s < first + timedelta(seconds=1) for s in starts) <= 10


async def test_a_handler_limit_covers_every_execution_of_the_handler(
    live: Live, tenant: Tenant
) -> None:
    await _set(live, tenant, handler_name="h", limit=2, per=seconds(1), burst=1)
    job = await make_job(live, tenant)  # no key of its own
    await run_times(live, tenant, job.id, 4)
    worker = await RawWorker.connect(live, tenant, slots=4)
    await _run_all(live, tenant, worker, 4)
    await eventually(lambda: _succeeded(live, tenant, job.id, 4))
    starts = started(await executions_of(live, tenant, job.id, SUCCESS))
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert all(gap >= timedelta(milliseconds=450) for gap in gaps), gaps


async def test_a_template_key_gives_each_expansion_its_own_bucket(
    live: Live, tenant: Tenant
) -> None:
    await _set(live, tenant, key="customer:{payload.c}", limit=1, per=seconds(86_400))
    ids: list[str] = []
    for customer in ("a", "b"):
        job = await make_job(
            live, tenant, rate_limit_key="customer:{payload.c}", payload=_struct(c=customer)
        )
        ids += await run_times(live, tenant, job.id, 2)
    worker = await RawWorker.connect(live, tenant, slots=4)
    got = {
        (await next_assignment(worker)).payload["c"],
        (await next_assignment(worker)).payload["c"],
    }
    assert got == {"a", "b"}
    await worker.quiet(0.5)


def _struct(**values: Any) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


async def test_deleting_a_limit_starts_what_waited_for_it(live: Live, tenant: Tenant) -> None:
    await _set(live, tenant, key="slow", limit=1, per=seconds(86_400))
    job = await make_job(live, tenant, rate_limit_key="slow")
    await run_times(live, tenant, job.id, 3)
    worker = await RawWorker.connect(live, tenant, slots=3)
    await next_assignment(worker)
    await worker.quiet(0.5)
    await live.scheduler.DeleteRateLimit(
        pb.DeleteRateLimitRequest(key="slow"), metadata=tenant.auth
    )
    await next_assignment(worker, within=2.0)
    await next_assignment(worker, within=2.0)


async def test_one_platforms_limit_never_throttles_another(live: Live, tenant: Tenant) -> None:
    other = await make_tenant(live, "globex")
    await _set(live, tenant, handler_name="h", limit=1, per=seconds(86_400))
    await _set(live, tenant, key="api", limit=1, per=seconds(86_400))
    theirs = await make_job(live, other, rate_limit_key="api")
    await run_times(live, other, theirs.id, 3)
    worker = await RawWorker.connect(live, other, slots=3)
    for _ in range(3):
        await next_assignment(worker, within=2.0)
    assert await _list(live, other) == []
    await expect_code(
        live.scheduler.DeleteRateLimit(pb.DeleteRateLimitRequest(key="api"), metadata=other.auth),
        grpc.StatusCode.NOT_FOUND,
    )
    await eventually(lambda: _count(live, other, theirs.id, 3))


async def _succeeded(live: Live, tenant: Tenant, job_id: str, count: int) -> bool:
    return len(await executions_of(live, tenant, job_id, SUCCESS)) == count


async def _count(live: Live, tenant: Tenant, job_id: str, count: int) -> bool:
    running = execution_pb2.EXECUTION_STATUS_RUNNING
    return len(await executions_of(live, tenant, job_id, running)) == count
