"""Concurrency keys over real gRPC and real worker streams, on SQLite and
Postgres: at most `limit` executions of a key run at once; the others wait
and start as places free, without holding up other keys
(docs/scheduling.md#concurrency-keys)."""

from __future__ import annotations

import grpc
from cronstream.v1 import event_pb2, execution_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from google.protobuf import field_mask_pb2, struct_pb2

from tests.conftest import Live, Tenant, make_tenant
from tests.integration.limit_helpers import (
    executions_of,
    keyed_job,
    most_at_once,
    next_assignment,
    run_times,
)
from tests.integration.worker_harness import RawWorker, eventually, execution, make_job
from tests.status import expect_code, violations

RUNNING = execution_pb2.EXECUTION_STATUS_RUNNING
SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS


async def _running(live: Live, tenant: Tenant, job_id: str = "") -> int:
    return len(await executions_of(live, tenant, job_id, RUNNING))


async def test_a_key_runs_at_most_its_limit_and_every_execution_succeeds(
    live: Live, tenant: Tenant
) -> None:
    job = await keyed_job(live, tenant, "reports", limit=2)
    ids = await run_times(live, tenant, job.id, 6)
    worker = await RawWorker.connect(live, tenant, slots=6)
    finished: list[str] = []
    held = [await next_assignment(worker), await next_assignment(worker)]
    await worker.quiet(0.5)  # four more are due and the worker has four free slots
    while held:
        assert await _running(live, tenant, job.id) <= 2
        done = held.pop(0)
        await worker.succeed(done)
        finished.append(done.execution_id)
        if len(finished) + len(held) < 6:
            held.append(await next_assignment(worker))
    await eventually(lambda: _all_succeeded(live, tenant, job.id, 6))
    assert sorted(finished) == sorted(ids)
    assert most_at_once(await executions_of(live, tenant, job.id)) == 2


async def _all_succeeded(live: Live, tenant: Tenant, job_id: str, count: int) -> bool:
    return len(await executions_of(live, tenant, job_id, SUCCESS)) == count


async def test_a_saturated_key_does_not_hold_up_the_executions_behind_it(
    live: Live, tenant: Tenant
) -> None:
    template = "customer:{payload.customer_id}"
    first = await keyed_job(live, tenant, template, 1, payload={"customer_id": 1})
    second = await keyed_job(live, tenant, template, 1, payload={"customer_id": 2})
    busy = await run_times(live, tenant, first.id, 1)
    holder = await RawWorker.connect(live, tenant, slots=1, worker_id="holder")
    running = await holder.expect("assignment")
    assert running.execution_id == busy[0]
    waiting = await run_times(live, tenant, first.id, 10)
    behind = await run_times(live, tenant, second.id, 1)
    worker = await RawWorker.connect(live, tenant, slots=5, worker_id="free")
    # customer:2 starts now, behind ten executions of customer:1 that wait.
    assert (await next_assignment(worker)).execution_id == behind[0]
    await worker.quiet(0.5)
    assert (
        await execution(live, tenant, waiting[0])
    ).status == execution_pb2.EXECUTION_STATUS_PENDING
    # As customer:1's place frees, its oldest waiting execution takes it.
    await holder.succeed(running)
    assert (await next_assignment(worker)).execution_id == waiting[0]


async def test_a_template_gives_each_customer_its_own_limit(live: Live, tenant: Tenant) -> None:
    handler = event_pb2.EventHandler(
        event_name="order.placed",
        handler_name="h",
        concurrency=job_pb2.ConcurrencyLimit(key="customer:{payload.customer_id}", limit=1),
    )
    await live.scheduler.CreateEventHandler(
        pb.CreateEventHandlerRequest(event_handler=handler), metadata=tenant.auth
    )
    for customer in (7, 7, 7, 42, 42, 42):
        payload = struct_pb2.Struct()
        payload.update({"customer_id": customer})
        await live.scheduler.TriggerEvent(
            pb.TriggerEventRequest(event_name="order.placed", payload=payload),
            metadata=tenant.auth,
        )
    worker = await RawWorker.connect(live, tenant, slots=6)
    first = [await next_assignment(worker), await next_assignment(worker)]
    await worker.quiet(0.5)
    keys = sorted([(await execution(live, tenant, a.execution_id)).concurrency_key for a in first])
    assert keys == ["customer:42", "customer:7"]  # 42.0 in the Struct, "42" in the key


async def test_one_platforms_key_never_limits_another_platforms(live: Live, tenant: Tenant) -> None:
    other = await make_tenant(live, "globex")
    mine = await keyed_job(live, tenant, "shared-name", 1)
    theirs = await keyed_job(live, other, "shared-name", 1)
    await run_times(live, tenant, mine.id, 2)
    await run_times(live, other, theirs.id, 2)
    my_worker = await RawWorker.connect(live, tenant, slots=2)
    their_worker = await RawWorker.connect(live, other, slots=2)
    await next_assignment(my_worker)
    await next_assignment(their_worker)  # the same key, running at its limit next door
    await my_worker.quiet(0.3)
    await their_worker.quiet(0.1)


async def test_the_job_and_its_executions_show_the_keys(live: Live, tenant: Tenant) -> None:
    job = await keyed_job(
        live, tenant, "tenant:{payload.tenant}", 3, payload={"tenant": "acme"}, rate_limit_key="api"
    )
    assert (job.concurrency.key, job.concurrency.limit, job.rate_limit_key) == (
        "tenant:{payload.tenant}",
        3,
        "api",
    )
    [run_id] = await run_times(live, tenant, job.id, 1)
    shown = await execution(live, tenant, run_id)
    assert (shown.concurrency_key, shown.rate_limit_key) == ("tenant:acme", "api")
    plain = await make_job(live, tenant)
    [plain_id] = await run_times(live, tenant, plain.id, 1)
    shown = await execution(live, tenant, plain_id)
    assert (shown.concurrency_key, shown.rate_limit_key) == ("", "")


async def test_update_sets_and_clears_the_concurrency_limit(live: Live, tenant: Tenant) -> None:
    job = await make_job(live, tenant)
    job.concurrency.CopyFrom(job_pb2.ConcurrencyLimit(key="k", limit=4))
    mask = field_mask_pb2.FieldMask(paths=["concurrency"])
    updated = (
        await live.scheduler.UpdateJob(
            pb.UpdateJobRequest(job=job, update_mask=mask), metadata=tenant.auth
        )
    ).job
    assert (updated.concurrency.key, updated.concurrency.limit) == ("k", 4)
    job.ClearField("concurrency")
    cleared = (
        await live.scheduler.UpdateJob(
            pb.UpdateJobRequest(job=job, update_mask=mask), metadata=tenant.auth
        )
    ).job
    assert not cleared.HasField("concurrency")


async def test_malformed_keys_and_limits_are_refused_with_their_fields(
    live: Live, tenant: Tenant
) -> None:
    job = job_pb2.Job(
        name="bad",
        handler_name="h",
        event=job_pb2.EventTrigger(event_name="e"),
        concurrency=job_pb2.ConcurrencyLimit(key="customer:{customer_id}", limit=0),
        rate_limit_key="x:{payload.a",
    )
    error = await expect_code(
        live.scheduler.CreateJob(pb.CreateJobRequest(job=job), metadata=tenant.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    found = violations(error)
    assert "payload field" in found["job.concurrency.key"]
    assert found["job.concurrency.limit"] == "must be 1 to 10,000"
    assert "unmatched '{'" in found["job.rate_limit_key"]


async def test_an_event_handlers_limits_are_updated_by_mask(live: Live, tenant: Tenant) -> None:
    created = (
        await live.scheduler.CreateEventHandler(
            pb.CreateEventHandlerRequest(
                event_handler=event_pb2.EventHandler(event_name="e", handler_name="h")
            ),
            metadata=tenant.auth,
        )
    ).event_handler
    change = event_pb2.EventHandler(
        id=created.id,
        concurrency=job_pb2.ConcurrencyLimit(key="order:{payload.order}", limit=2),
        rate_limit_key="erp",
    )
    mask = field_mask_pb2.FieldMask(paths=["concurrency", "rate_limit_key"])
    updated = (
        await live.scheduler.UpdateEventHandler(
            pb.UpdateEventHandlerRequest(event_handler=change, update_mask=mask),
            metadata=tenant.auth,
        )
    ).event_handler
    assert (updated.concurrency.key, updated.concurrency.limit) == ("order:{payload.order}", 2)
    assert updated.rate_limit_key == "erp"
    change.concurrency.limit = 10_001
    error = await expect_code(
        live.scheduler.UpdateEventHandler(
            pb.UpdateEventHandlerRequest(event_handler=change, update_mask=mask),
            metadata=tenant.auth,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violations(error) == {"event_handler.concurrency.limit": "must be 1 to 10,000"}
