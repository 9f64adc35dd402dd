"""`Client.list_workers` against a live server with Python `Worker`s
connected, on SQLite and Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cronstream import Backoff, Client, ConnectedWorker, Context, Worker

from tests.clients.test_python_worker import running
from tests.conftest import Live, Tenant

WAIT = 10.0


@pytest.fixture
async def client(live: Live, tenant: Tenant) -> AsyncIterator[Client]:
    async with Client.connect(live.address, tenant.secret) as client:
        yield client


def worker(live: Live, tenant: Tenant, worker_id: str, *handlers: str, slots: int) -> Worker:
    made = Worker(
        api_key=tenant.secret,
        target=live.address,
        worker_id=worker_id,
        slots=slots,
        backoff=Backoff(base=0.05, cap=0.5),
    )
    for name in handlers:

        async def handle(ctx: Context) -> dict[str, Any]:
            return {}

        made.handler(name)(handle)
    return made


async def listed(
    client: Client, count: int, handler_name: str | None = None, page_size: int = 100
) -> list[ConnectedWorker]:
    """Waits until `count` workers are listed; them."""
    async with asyncio.timeout(WAIT):
        while True:
            found = [w async for w in client.list_workers(handler_name, page_size=page_size)]
            if len(found) == count:
                return found
            await asyncio.sleep(0.05)


async def test_lists_the_connected_workers_as_typed_views(
    live: Live, tenant: Tenant, client: Client
) -> None:
    before = datetime.now(UTC)
    reports = worker(live, tenant, "reports-1", "send_report", "archive", slots=4)
    emails = worker(live, tenant, "emails-1", "send_email", slots=2)
    async with running(reports), running(emails):
        # Two pages of one: the client follows the token.
        first, second = await listed(client, 2, page_size=1)
        assert (first.worker_id, second.worker_id) == ("emails-1", "reports-1")
        assert second.handler_names == ("archive", "send_report")
        assert (second.slots, second.slots_in_use) == (4, 0)
        assert second.connected_at is not None and before <= second.connected_at
        assert second.last_seen is not None and second.last_seen >= second.connected_at
        assert second.replica == first.replica != ""
        assert second.session_id != first.session_id
        assert second.proto.worker_id == "reports-1"

        (only,) = await listed(client, 1, "send_email")
        assert (only.worker_id, only.session_id) == (first.worker_id, first.session_id)
        assert [w async for w in client.list_workers("nobody")] == []
    await listed(client, 0)
