"""Every list page fits in one gRPC message, over real gRPC on both databases.

page_size alone would send 50 jobs at the 256 KiB payload limit (12.5 MiB)
in one response, past the server's 4 MiB limit; pages are cut by bytes too
(api/paging.py), and paging through still yields every item once, in order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC
from itertools import pairwise
from typing import Any, TypeVar

import grpc
from cronstream.v1 import admin_service_pb2 as admin_pb
from cronstream.v1 import event_pb2, execution_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream.v1 import worker_service_pb2 as wpb
from cronstream_server.api.paging import (
    ITEM_FRAMING_BYTES,
    RESPONSE_HEADROOM_BYTES,
    page_budget,
)
from cronstream_server.config import DEFAULT_MAX_PAYLOAD_BYTES, Settings
from cronstream_server.server import start
from cronstream_server.store.tables import job_execution_logs
from google.protobuf import struct_pb2
from google.protobuf.message import Message
from sqlalchemy import func, select

from tests.conftest import ADMIN, ADMIN_KEY, Live, Tenant, make_tenant
from tests.integration.worker_harness import RawWorker, eventually, make_job, run

MAX_MESSAGE = Settings().max_message_bytes  # what the `live` server runs with: 4 MiB
BUDGET = page_budget(MAX_MESSAGE)
MAX_PAYLOAD = DEFAULT_MAX_PAYLOAD_BYTES  # 256 KiB, serialized
MAX_LOG_LINE = 64 * 1024  # characters a log line keeps (api/worker.MAX_TEXT)

R = TypeVar("R", bound=Message)


def sized(n: int, size: int = MAX_PAYLOAD) -> dict[str, Any]:
    """A payload (or result) numbered `n` whose Struct is exactly `size` bytes."""
    value = struct_pb2.Struct()
    value.update({"n": n, "blob": ""})
    blob = size - value.ByteSize()
    while True:
        value["blob"] = "x" * blob
        over = value.ByteSize() - size
        if over <= 0:
            break
        blob -= over
    assert value.ByteSize() == size
    return {"n": n, "blob": value["blob"]}


def struct(fields: dict[str, Any]) -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.update(fields)
    return value


async def page_through(
    call: Callable[[R], Awaitable[Any]], request: R, max_pages: int = 100
) -> list[Any]:
    """Every response, following next_page_token until it is empty."""
    responses = []
    while len(responses) < max_pages:
        response = await call(request)
        responses.append(response)
        if not response.next_page_token:
            return responses
        request.page_token = response.next_page_token  # type: ignore[attr-defined]
    raise AssertionError(f"still a next_page_token after {max_pages} pages")


def pages_of(responses: Sequence[Any], field: str, page_size: int) -> list[list[Any]]:
    """The items of each page, after checking each page's bytes: under the
    message limit, within the budget, and full (one more item would not have
    fitted) unless page_size or the last page ended it."""
    pages = [list(getattr(response, field)) for response in responses]
    for response, page in zip(responses, pages, strict=True):
        assert response.ByteSize() <= MAX_MESSAGE
        assert len(page) >= 1
        assert len(page) <= page_size
        assert cost(page) <= BUDGET
    for page, following in pairwise(pages):
        assert len(page) == page_size or cost([*page, following[0]]) > BUDGET
    return pages


def cost(items: Sequence[Message]) -> int:
    """The bytes fit_page counts for these items."""
    return sum(item.ByteSize() + ITEM_FRAMING_BYTES for item in items)


def newest_first(items: Sequence[Any]) -> list[str]:
    ordered = sorted(items, key=lambda i: (i.created_at.ToDatetime(tzinfo=UTC), i.id), reverse=True)
    return [item.id for item in ordered]


async def test_list_jobs_pages_fit_at_the_payload_limit(live: Live, tenant: Tenant) -> None:
    created = [await make_job(live, tenant, payload=struct(sized(n))) for n in range(50)]
    assert all(job.payload.ByteSize() == MAX_PAYLOAD for job in created)
    expected = newest_first(created)
    number = {job.id: n for n, job in enumerate(created)}

    def list_jobs(request: pb.ListJobsRequest) -> Awaitable[pb.ListJobsResponse]:
        return live.scheduler.ListJobs(request, metadata=tenant.auth)

    # A job is ~262,400 bytes on the wire: 15 fit in the 4 MiB - 64 KiB budget.
    for page_size, counts in [
        (0, [15, 15, 15, 5]),  # the default, 50
        (1000, [15, 15, 15, 5]),
        (20, [15, 15, 15, 5]),
        (10, [10, 10, 10, 10, 10]),  # count-limited: no page reaches the budget
    ]:
        responses = await page_through(list_jobs, pb.ListJobsRequest(page_size=page_size))
        pages = pages_of(responses, "jobs", page_size or 50)
        assert [len(page) for page in pages] == counts
        jobs = [job for page in pages for job in page]
        assert [job.id for job in jobs] == expected
        assert all(job.payload.ByteSize() == MAX_PAYLOAD for job in jobs)
        assert all(job.payload["n"] == number[job.id] for job in jobs)


async def test_list_executions_pages_fit_with_payload_and_result(
    live: Live, tenant: Tenant
) -> None:
    job = await make_job(live, tenant, payload=struct(sized(-1)))
    runs = [await run(live, tenant, job.id) for _ in range(50)]
    worker = await RawWorker.connect(live, tenant, slots=1)
    result_of: dict[str, float] = {}
    for n in range(50):
        assignment = await worker.expect("assignment")
        assert assignment.payload.ByteSize() == MAX_PAYLOAD
        await worker.succeed(assignment, **sized(n))
        await worker.expect("result_ack")
        result_of[assignment.execution_id] = n
    await worker.close()
    assert set(result_of) == {e.id for e in runs}

    def list_executions(
        request: pb.ListExecutionsRequest,
    ) -> Awaitable[pb.ListExecutionsResponse]:
        return live.scheduler.ListExecutions(request, metadata=tenant.auth)

    # An execution carries a 256 KiB payload and a 256 KiB result, ~524,600
    # bytes: 7 fit in the budget.
    for page_size, counts in [(0, [7] * 7 + [1]), (9, [7] * 7 + [1]), (5, [5] * 10)]:
        responses = await page_through(
            list_executions, pb.ListExecutionsRequest(job_id=job.id, page_size=page_size)
        )
        pages = pages_of(responses, "executions", page_size or 50)
        assert [len(page) for page in pages] == counts
        listed = [execution for page in pages for execution in page]
        assert [e.id for e in listed] == newest_first(runs)
        for execution in listed:
            assert execution.status == execution_pb2.EXECUTION_STATUS_SUCCESS
            assert execution.payload.ByteSize() == execution.result.ByteSize() == MAX_PAYLOAD
            assert (execution.payload["n"], execution.result["n"]) == (-1, result_of[execution.id])


async def test_list_execution_logs_pages_fit_at_the_line_limit(live: Live, tenant: Tenant) -> None:
    job = await make_job(live, tenant)
    pending = await run(live, tenant, job.id)
    worker = await RawWorker.connect(live, tenant)
    assignment = await worker.expect("assignment")
    texts = [f"line {i:03} ".ljust(MAX_LOG_LINE, "x") for i in range(120)]
    for text in texts:
        await worker.send(log=wpb.WorkerLog(execution_id=pending.id, message=text + "cut"))
    await worker.succeed(assignment)
    await worker.expect("result_ack")
    await worker.close()

    async def stored() -> bool:
        query = select(func.count()).where(job_execution_logs.c.execution_id == pending.id)
        async with live.running.engine.connect() as conn:
            return (await conn.execute(query)).scalar_one() == len(texts)

    await eventually(stored)

    def list_logs(
        request: pb.ListExecutionLogsRequest,
    ) -> Awaitable[pb.ListExecutionLogsResponse]:
        return live.scheduler.ListExecutionLogs(request, metadata=tenant.auth)

    # A line of 65,536 characters is ~65,600 bytes on the wire: 62 fit.
    for page_size, counts in [(0, [62, 58]), (1000, [62, 58]), (50, [50, 50, 20])]:
        request = pb.ListExecutionLogsRequest(execution_id=pending.id, page_size=page_size)
        responses = await page_through(list_logs, request)
        pages = pages_of(responses, "logs", page_size or 100)
        assert [len(page) for page in pages] == counts
        assert [line.message for page in pages for line in page] == texts  # cut at 64 Ki


async def test_list_event_handlers_pages_fit_at_the_payload_limit(
    live: Live, tenant: Tenant
) -> None:
    created = []
    for n in range(20):
        handler = event_pb2.EventHandler(
            event_name="order.paid", handler_name=f"h{n}", payload=struct(sized(n))
        )
        response = await live.scheduler.CreateEventHandler(
            pb.CreateEventHandlerRequest(event_handler=handler), metadata=tenant.auth
        )
        created.append(response.event_handler)

    def list_handlers(
        request: pb.ListEventHandlersRequest,
    ) -> Awaitable[pb.ListEventHandlersResponse]:
        return live.scheduler.ListEventHandlers(request, metadata=tenant.auth)

    responses = await page_through(list_handlers, pb.ListEventHandlersRequest())
    pages = pages_of(responses, "event_handlers", 50)
    assert [len(page) for page in pages] == [15, 5]
    listed = [handler for page in pages for handler in page]
    assert [h.id for h in listed] == newest_first(created)
    assert [h.payload["n"] for h in listed] == [19 - n for n in range(20)]


@asynccontextmanager
async def small_limit_server(database_url: str, max_message_bytes: int) -> AsyncIterator[Live]:
    """A live server with a message limit below what from_env accepts, so
    that small admin records fill a page."""
    running = await start(
        Settings(
            listen="127.0.0.1:0",
            database_url=database_url,
            admin_key=ADMIN_KEY,
            shutdown_grace_seconds=1.0,
            max_message_bytes=max_message_bytes,
        )
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield Live(running=running, channel=channel, database_url=database_url)
    finally:
        await channel.close()
        await running.stop()


async def test_admin_lists_are_cut_to_the_admin_servers_limit(database_url: str) -> None:
    budget = 2000  # a page of about 20 platforms or 12 keys
    async with small_limit_server(database_url, RESPONSE_HEADROOM_BYTES + budget) as live:
        names = [f"platform-{n:02}" for n in range(30)]
        platforms = [
            (
                await live.admin.CreatePlatform(
                    admin_pb.CreatePlatformRequest(platform=admin_pb.Platform(name=name)),
                    metadata=ADMIN,
                )
            ).platform
            for name in names
        ]
        tenant = await make_tenant(live, "keyed")
        for n in range(29):
            await live.admin.CreateApiKey(
                admin_pb.CreateApiKeyRequest(platform_id=tenant.platform.id, name=f"key-{n:02}"),
                metadata=ADMIN,
            )

        def list_platforms(
            request: admin_pb.ListPlatformsRequest,
        ) -> Awaitable[admin_pb.ListPlatformsResponse]:
            return live.admin.ListPlatforms(request, metadata=ADMIN)

        def list_keys(
            request: admin_pb.ListApiKeysRequest,
        ) -> Awaitable[admin_pb.ListApiKeysResponse]:
            return live.admin.ListApiKeys(request, metadata=ADMIN)

        found = await page_through(list_platforms, admin_pb.ListPlatformsRequest())
        platform_pages = [list(r.platforms) for r in found]
        listed = [p.id for page in platform_pages for p in page]
        assert listed == [p.id for p in platforms] + [tenant.platform.id]  # oldest first
        found_keys = await page_through(
            list_keys, admin_pb.ListApiKeysRequest(platform_id=tenant.platform.id)
        )
        key_pages = [list(r.api_keys) for r in found_keys]
        assert [k.name for page in key_pages for k in page] == [
            "keyed-key",
            *(f"key-{n:02}" for n in range(29)),
        ]
    for pages in (platform_pages, key_pages):
        assert len(pages) > 1
        assert all(cost(page) <= budget for page in pages)
        assert all(cost([*page, after[0]]) > budget for page, after in pairwise(pages))
