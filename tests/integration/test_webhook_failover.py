"""A replica stopped in the middle of an attempt leaves the delivery to
another: the delivery loop itself (short lease and timeout) over the SQL
store and the HTTP sender, on SQLite and Postgres, against a receiver on
127.0.0.1 that holds the first request unanswered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from cronstream_server.core.enums import JobStatus
from cronstream_server.core.ids import new_id
from cronstream_server.core.jobs import Job, JobSpec
from cronstream_server.core.paging import PageRequest
from cronstream_server.core.triggers import IntervalTrigger
from cronstream_server.core.webhook_signature import verify
from cronstream_server.core.webhook_targets import TargetRule
from cronstream_server.core.webhooks import Webhook, WebhookSpec
from cronstream_server.engine.webhook_http import HttpSender, TargetGuard
from cronstream_server.engine.webhooks import WebhookDispatcher, WebhookSettings
from cronstream_server.store.admin import SqlAdminStore
from cronstream_server.store.database import create_engine
from cronstream_server.store.jobs import SqlJobStore
from cronstream_server.store.webhook_delivery import SqlWebhookDeliveryStore
from cronstream_server.store.webhooks import SqlWebhookStore
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.webhook_helpers import add_alert_event

SETTINGS = WebhookSettings(timeout=1.0, lease=timedelta(seconds=1.5), poll=0.1)
SECRET = "whsec_failover"


class HoldingFirst:
    """Holds the first request unanswered until the sender hangs up; answers
    the others 200."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.first_arrived = asyncio.Event()
        self.signatures: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers: dict[str, str] = {}
        await reader.readline()
        while (line := (await reader.readline()).decode().strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers["content-length"]))
        self.bodies.append(body)
        self.signatures.append(headers["cronstream-signature"])
        if len(self.bodies) == 1:
            self.first_arrived.set()
            await reader.read()  # until the sender is gone
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        writer.close()


@asynccontextmanager
async def replica(engine: AsyncEngine) -> AsyncIterator[WebhookDispatcher]:
    sender = HttpSender(TargetGuard(TargetRule()), SETTINGS.timeout)
    dispatcher = WebhookDispatcher(SqlWebhookDeliveryStore(engine), sender.send, SETTINGS)
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        await dispatcher.stop()
        await sender.aclose()


async def a_job(engine: AsyncEngine, platform_id: str) -> Job:
    now = datetime.now(UTC)
    spec = JobSpec(
        name="failover",
        handler_name="h",
        trigger=IntervalTrigger(every=timedelta(hours=1), start_at=now),
    )
    job = Job(new_id(), platform_id, spec, JobStatus.ACTIVE, "test", now, now, next_run=None)
    created, _ = await SqlJobStore(engine).create_job(job, None)
    return created


async def test_a_replica_stopped_mid_attempt_leaves_the_delivery_to_another(
    database_url: str,
) -> None:
    receiver = HoldingFirst()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    first_engine, second_engine = create_engine(database_url), create_engine(database_url)
    try:
        platform = await SqlAdminStore(first_engine).create_platform(f"failover-{new_id()[-8:]}")
        job = await a_job(first_engine, platform.id)
        webhooks = SqlWebhookStore(first_engine)
        hook = Webhook(new_id(), platform.id, WebhookSpec(url), datetime.now(UTC))
        await webhooks.create_webhook(hook, SECRET)
        await add_alert_event(first_engine, platform.id, job.id, "opened")

        async with replica(first_engine):
            await asyncio.wait_for(receiver.first_arrived.wait(), 10)
        stopped_at = time.monotonic()  # mid-attempt: it recorded nothing
        async with replica(second_engine):
            while len(receiver.bodies) < 2:
                assert time.monotonic() - stopped_at < 10, "no second attempt"
                await asyncio.sleep(0.05)
            taken_over_after = time.monotonic() - stopped_at
            await asyncio.sleep(0.5)  # its record
        attempts, _ = await webhooks.list_attempts(platform.id, hook.id, PageRequest(50, None))
    finally:
        server.close()
        await server.wait_closed()
        await first_engine.dispose()
        await second_engine.dispose()

    assert len(receiver.bodies) == 2 and receiver.bodies[0] == receiver.bodies[1]
    assert all(verify(SECRET, s, receiver.bodies[0], int(time.time())) for s in receiver.signatures)
    assert taken_over_after < SETTINGS.lease.total_seconds() + 1.0  # the lease, then a pass
    # The stopped replica's attempt (1) left no record; the second's (2) did.
    assert [(a.attempt, a.status.value, a.response_code) for a in attempts] == [
        (2, "succeeded", 200)
    ]
