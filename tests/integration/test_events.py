"""Event handlers and TriggerEvent over real gRPC, on SQLite and Postgres."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from cronstream.v1 import event_pb2, execution_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.store.tables import event_deliveries, job_executions
from google.protobuf import field_mask_pb2, struct_pb2
from sqlalchemy import func, select

from tests.conftest import Live, Tenant, make_tenant
from tests.jobs import create, seconds
from tests.status import expect_code, violations


def handler(
    event_name: str = "user.signup", handler_name: str = "welcome", **fields: Any
) -> event_pb2.EventHandler:
    return event_pb2.EventHandler(event_name=event_name, handler_name=handler_name, **fields)


def struct(**values: Any) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


async def add(
    live: Live, tenant: Tenant, message: event_pb2.EventHandler
) -> event_pb2.EventHandler:
    response = await live.scheduler.CreateEventHandler(
        pb.CreateEventHandlerRequest(event_handler=message), metadata=tenant.auth
    )
    return response.event_handler


async def trigger(
    live: Live, tenant: Tenant, name: str, request_id: str = "", **payload: Any
) -> list[str]:
    response = await live.scheduler.TriggerEvent(
        pb.TriggerEventRequest(
            event_name=name, payload=struct(**payload) if payload else None, request_id=request_id
        ),
        metadata=tenant.auth,
    )
    return list(response.execution_ids)


async def execution(live: Live, tenant: Tenant, execution_id: str) -> execution_pb2.Execution:
    response = await live.scheduler.GetExecution(
        pb.GetExecutionRequest(id=execution_id), metadata=tenant.auth
    )
    return response.execution


async def executions_in_db(live: Live, platform_id: str) -> tuple[int, int]:
    """(rows, distinct ids) of the platform's executions."""
    query = select(func.count(), func.count(job_executions.c.id.distinct())).where(
        job_executions.c.platform_id == platform_id
    )
    async with live.running.engine.connect() as conn:
        rows, distinct = (await conn.execute(query)).one()
    return rows, distinct


async def event_job(
    live: Live, tenant: Tenant, name: str, event_name: str = "user.signup", **payload: Any
) -> job_pb2.Job:
    job = job_pb2.Job(
        name=name, handler_name=f"{name}-handler", event=job_pb2.EventTrigger(event_name=event_name)
    )
    if payload:
        job.payload.update(payload)
    return await create(live, tenant, job)


# --- handlers -----------------------------------------------------------------


async def test_create_applies_defaults_and_round_trips(live: Live, tenant: Tenant) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    created = await add(live, tenant, handler(payload=struct(plan="free", n=1)))
    assert created.id and created.platform_id == tenant.platform.id
    assert (created.event_name, created.handler_name) == ("user.signup", "welcome")
    assert created.HasField("enabled") and created.enabled is True
    assert created.max_retries == 3
    assert (created.retry_delay.seconds, created.timeout.seconds) == (60, 300)
    assert created.priority == job_pb2.PRIORITY_MEDIUM
    assert created.handler_type == job_pb2.HANDLER_TYPE_FUNCTION
    assert dict(created.payload) == {"plan": "free", "n": 1}
    assert created.created_at.ToDatetime(tzinfo=UTC) >= before
    assert created.updated_at == created.created_at

    fetched = await live.scheduler.GetEventHandler(
        pb.GetEventHandlerRequest(id=created.id), metadata=tenant.auth
    )
    assert fetched.event_handler == created


async def test_explicit_zero_and_false_are_kept(live: Live, tenant: Tenant) -> None:
    created = await add(
        live,
        tenant,
        handler(
            enabled=False,
            max_retries=0,
            priority=job_pb2.PRIORITY_CRITICAL,
            handler_type=job_pb2.HANDLER_TYPE_AGENT,
            retry_delay=seconds(1.5),
            timeout=seconds(10),
        ),
    )
    assert created.HasField("enabled") and created.enabled is False
    assert created.HasField("max_retries") and created.max_retries == 0
    assert created.priority == job_pb2.PRIORITY_CRITICAL
    assert created.handler_type == job_pb2.HANDLER_TYPE_AGENT
    assert created.retry_delay.ToMilliseconds() == 1500
    assert created.timeout.seconds == 10


async def test_create_names_every_bad_field(live: Live, tenant: Tenant) -> None:
    error = await expect_code(
        live.scheduler.CreateEventHandler(
            pb.CreateEventHandlerRequest(
                event_handler=handler(
                    event_name="",
                    handler_name="bad\x00name",
                    max_retries=101,
                    retry_delay=seconds(0),
                    timeout=seconds(-1),
                    priority=99,
                )
            ),
            metadata=tenant.auth,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {
        "event_handler.event_name",
        "event_handler.handler_name",
        "event_handler.max_retries",
        "event_handler.retry_delay",
        "event_handler.timeout",
        "event_handler.priority",
    }
    missing = await expect_code(
        live.scheduler.CreateEventHandler(pb.CreateEventHandlerRequest(), metadata=tenant.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(missing)) == {"event_handler"}


async def test_payload_over_the_cap_is_refused(live: Live, tenant: Tenant) -> None:
    big = struct(blob="x" * (256 * 1024))
    error = await expect_code(
        live.scheduler.CreateEventHandler(
            pb.CreateEventHandlerRequest(event_handler=handler(payload=big)), metadata=tenant.auth
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {"event_handler.payload"}
    error = await expect_code(
        live.scheduler.TriggerEvent(
            pb.TriggerEventRequest(event_name="e", payload=big), metadata=tenant.auth
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {"payload"}


async def test_update_with_mask_enables_disables_and_changes_only_named_fields(
    live: Live, tenant: Tenant
) -> None:
    created = await add(live, tenant, handler(payload=struct(a=1), max_retries=5))

    async def update(message: event_pb2.EventHandler, *paths: str) -> event_pb2.EventHandler:
        response = await live.scheduler.UpdateEventHandler(
            pb.UpdateEventHandlerRequest(
                event_handler=message, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
            ),
            metadata=tenant.auth,
        )
        return response.event_handler

    disabled = await update(event_pb2.EventHandler(id=created.id, enabled=False), "enabled")
    assert disabled.enabled is False
    assert (disabled.max_retries, dict(disabled.payload)) == (5, {"a": 1})
    assert disabled.created_at == created.created_at
    assert disabled.updated_at.ToDatetime() >= created.updated_at.ToDatetime()

    changed = await update(
        event_pb2.EventHandler(
            id=created.id, event_name="user.deleted", timeout=seconds(30), enabled=False
        ),
        "event_name",
        "timeout",
        "payload",
    )
    assert (changed.event_name, changed.timeout.seconds) == ("user.deleted", 30)
    assert not changed.HasField("payload")  # named in the mask, absent: cleared
    assert changed.enabled is False and changed.handler_name == "welcome"

    enabled = await update(event_pb2.EventHandler(id=created.id), "enabled", "max_retries")
    assert enabled.enabled is True and enabled.max_retries == 3  # absent: the defaults
    fetched = await live.scheduler.GetEventHandler(
        pb.GetEventHandlerRequest(id=created.id), metadata=tenant.auth
    )
    assert fetched.event_handler == enabled


async def test_update_refuses_unknown_paths_and_bad_values(live: Live, tenant: Tenant) -> None:
    created = await add(live, tenant, handler())
    error = await expect_code(
        live.scheduler.UpdateEventHandler(
            pb.UpdateEventHandlerRequest(
                event_handler=event_pb2.EventHandler(id=created.id),
                update_mask=field_mask_pb2.FieldMask(paths=["enabled", "id", "platform_id"]),
            ),
            metadata=tenant.auth,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {"update_mask.paths[1]", "update_mask.paths[2]"}
    error = await expect_code(
        live.scheduler.UpdateEventHandler(
            pb.UpdateEventHandlerRequest(
                # the empty names are not in the mask: only max_retries is checked
                event_handler=event_pb2.EventHandler(id=created.id, max_retries=-1),
                update_mask=field_mask_pb2.FieldMask(paths=["max_retries"]),
            ),
            metadata=tenant.auth,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {"event_handler.max_retries"}
    error = await expect_code(
        live.scheduler.UpdateEventHandler(
            pb.UpdateEventHandlerRequest(event_handler=event_pb2.EventHandler(id=created.id)),
            metadata=tenant.auth,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {"update_mask"}


async def test_list_filters_by_event_name_and_pages_newest_first(
    live: Live, tenant: Tenant
) -> None:
    for i in range(5):
        await add(live, tenant, handler("a" if i % 2 == 0 else "b", f"h{i}"))
    other = await make_tenant(live, "other")
    await add(live, other, handler("a", "theirs"))

    async def names(request: pb.ListEventHandlersRequest) -> list[str]:
        seen: list[str] = []
        while True:
            page = await live.scheduler.ListEventHandlers(request, metadata=tenant.auth)
            assert len(page.event_handlers) <= (request.page_size or 50)
            seen += [h.handler_name for h in page.event_handlers]
            if not page.next_page_token:
                return seen
            request.page_token = page.next_page_token

    assert await names(pb.ListEventHandlersRequest(page_size=2)) == ["h4", "h3", "h2", "h1", "h0"]
    assert await names(pb.ListEventHandlersRequest(page_size=1, event_name="a")) == [
        "h4",
        "h2",
        "h0",
    ]
    first = await live.scheduler.ListEventHandlers(
        pb.ListEventHandlersRequest(page_size=1, event_name="a"), metadata=tenant.auth
    )
    error = await expect_code(
        live.scheduler.ListEventHandlers(
            pb.ListEventHandlersRequest(page_token=first.next_page_token, event_name="b"),
            metadata=tenant.auth,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "page_token" in violations(error)


async def test_delete_then_not_found(live: Live, tenant: Tenant) -> None:
    created = await add(live, tenant, handler())
    await live.scheduler.DeleteEventHandler(
        pb.DeleteEventHandlerRequest(id=created.id), metadata=tenant.auth
    )
    for call in (
        live.scheduler.GetEventHandler(
            pb.GetEventHandlerRequest(id=created.id), metadata=tenant.auth
        ),
        live.scheduler.DeleteEventHandler(
            pb.DeleteEventHandlerRequest(id=created.id), metadata=tenant.auth
        ),
    ):
        await expect_code(call, grpc.StatusCode.NOT_FOUND)
    assert await trigger(live, tenant, "user.signup") == []


async def test_another_platforms_and_malformed_ids_are_not_found(
    live: Live, tenant: Tenant
) -> None:
    other = await make_tenant(live, "other")
    theirs = await add(live, other, handler())
    mask = field_mask_pb2.FieldMask(paths=["enabled"])
    for handler_id in (theirs.id, str(uuid.uuid4()), "not-an-id", ""):
        for call in (
            live.scheduler.GetEventHandler(
                pb.GetEventHandlerRequest(id=handler_id), metadata=tenant.auth
            ),
            live.scheduler.UpdateEventHandler(
                pb.UpdateEventHandlerRequest(
                    event_handler=event_pb2.EventHandler(id=handler_id, enabled=False),
                    update_mask=mask,
                ),
                metadata=tenant.auth,
            ),
            live.scheduler.DeleteEventHandler(
                pb.DeleteEventHandlerRequest(id=handler_id), metadata=tenant.auth
            ),
        ):
            await expect_code(call, grpc.StatusCode.NOT_FOUND)
    still = await live.scheduler.GetEventHandler(
        pb.GetEventHandlerRequest(id=theirs.id), metadata=other.auth
    )
    assert still.event_handler == theirs


# --- TriggerEvent ---------------------------------------------------------------


async def test_trigger_fans_out_to_enabled_handlers_and_active_event_jobs(
    live: Live, tenant: Tenant
) -> None:
    first = await add(live, tenant, handler(handler_name="first", payload=struct(a="own", b="own")))
    second = await add(
        live, tenant, handler(handler_name="second", max_retries=0, priority=job_pb2.PRIORITY_HIGH)
    )
    await add(live, tenant, handler(handler_name="disabled", enabled=False))
    await add(live, tenant, handler("other.event", "elsewhere"))
    active = await event_job(live, tenant, "active", b="job", c="job")
    paused = await event_job(live, tenant, "paused")
    await live.scheduler.PauseJob(pb.PauseJobRequest(id=paused.id), metadata=tenant.auth)
    other = await make_tenant(live, "other")
    await add(live, other, handler(handler_name="theirs"))
    before = datetime.now(UTC) - timedelta(seconds=1)

    ids = await trigger(live, tenant, "user.signup", b="event", d="event")

    assert len(ids) == len(set(ids)) == 3
    made = {e.handler_name: e for e in [await execution(live, tenant, i) for i in ids]}
    assert set(made) == {"first", "second", "active-handler"}
    for e in made.values():
        assert e.trigger == execution_pb2.EXECUTION_TRIGGER_EVENT
        assert e.status == execution_pb2.EXECUTION_STATUS_PENDING
        assert before <= e.scheduled_at.ToDatetime(tzinfo=UTC) <= datetime.now(UTC)
    assert (made["first"].job_id, made["first"].event_handler_id) == ("", first.id)
    assert dict(made["first"].payload) == {"a": "own", "b": "event", "d": "event"}
    assert (made["second"].event_handler_id, made["second"].max_retries) == (second.id, 0)
    assert dict(made["second"].payload) == {"b": "event", "d": "event"}
    job_run = made["active-handler"]
    assert (job_run.job_id, job_run.event_handler_id) == (active.id, "")
    assert dict(job_run.payload) == {"b": "event", "c": "job", "d": "event"}
    assert await executions_in_db(live, tenant.platform.id) == (3, 3)
    assert await executions_in_db(live, other.platform.id) == (0, 0)
    counted = await live.scheduler.GetJob(pb.GetJobRequest(id=active.id), metadata=tenant.auth)
    assert counted.job.executions_count == 1


async def test_trigger_without_listeners_creates_nothing(live: Live, tenant: Tenant) -> None:
    assert await trigger(live, tenant, "nobody.listens", request_id="r") == []
    assert await trigger(live, tenant, "nobody.listens", request_id="r") == []
    assert await executions_in_db(live, tenant.platform.id) == (0, 0)


async def test_trigger_is_idempotent_by_request_id_per_platform(live: Live, tenant: Tenant) -> None:
    await add(live, tenant, handler(handler_name="one"))
    await add(live, tenant, handler(handler_name="two"))
    ids = await trigger(live, tenant, "user.signup", request_id="req-1", n=1)
    assert len(ids) == 2
    assert await trigger(live, tenant, "user.signup", request_id="req-1", n=2) == ids
    await add(live, tenant, handler(handler_name="three"))  # arrives later: no difference
    assert await trigger(live, tenant, "user.signup", request_id="req-1") == ids
    assert await executions_in_db(live, tenant.platform.id) == (2, 2)
    assert len(await trigger(live, tenant, "user.signup", request_id="req-2")) == 3
    assert len(await trigger(live, tenant, "user.signup")) == 3  # no request_id: no memory
    assert await executions_in_db(live, tenant.platform.id) == (8, 8)

    other = await make_tenant(live, "other")
    await add(live, other, handler(handler_name="theirs"))
    theirs = await trigger(live, other, "user.signup", request_id="req-1")
    assert len(theirs) == 1 and not set(theirs) & set(ids)


async def test_trigger_validates_its_fields(live: Live, tenant: Tenant) -> None:
    error = await expect_code(
        live.scheduler.TriggerEvent(
            pb.TriggerEventRequest(event_name="", request_id="x" * 201), metadata=tenant.auth
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {"event_name", "request_id"}
    error = await expect_code(
        live.scheduler.TriggerEvent(
            pb.TriggerEventRequest(event_name="e\u202e", request_id="a\nb"), metadata=tenant.auth
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {"event_name", "request_id"}


async def test_a_burst_of_500_events_creates_every_execution_once(
    live: Live, tenant: Tenant
) -> None:
    await add(live, tenant, handler("burst", "one"))
    await add(live, tenant, handler("burst", "two"))
    results = await asyncio.gather(
        *(trigger(live, tenant, "burst", request_id=f"burst-{i}", i=i) for i in range(500))
    )
    ids = [i for r in results for i in r]
    assert all(len(r) == 2 for r in results)
    assert len(set(ids)) == 1000
    assert await executions_in_db(live, tenant.platform.id) == (1000, 1000)
    async with live.running.engine.connect() as conn:
        deliveries = (
            await conn.execute(select(func.count()).select_from(event_deliveries))
        ).scalar_one()
    assert deliveries == 500


async def test_concurrent_calls_with_one_request_id_create_once(live: Live, tenant: Tenant) -> None:
    await add(live, tenant, handler("race", "one"))
    await add(live, tenant, handler("race", "two"))
    await event_job(live, tenant, "job", "race")
    results = await asyncio.gather(
        *(trigger(live, tenant, "race", request_id="same") for _ in range(30))
    )
    assert len(results[0]) == 3
    assert all(r == results[0] for r in results)
    assert await executions_in_db(live, tenant.platform.id) == (3, 3)
