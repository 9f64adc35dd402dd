"""The Python client's alerts over gRPC.

Two halves:
- `watch_alerts` against an in-process fake SchedulerService whose streams
  break on cue, and across a real server restart on the same port;
- end to end, against the live server on SQLite and Postgres: a health policy
  on create, a failing handler opening FAILING (seen by `watch_alerts`, by the
  job's health, by `list_alerts` and `list_jobs(healths=...)`), a watch
  resumed from its cursor seeing the resolution, and the same events arriving
  at a webhook whose signature `verify_webhook` checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

import grpc
import pytest
from cronstream import (
    AlertEvent,
    AlertEventType,
    AlertState,
    AlertWatch,
    Backoff,
    Client,
    Context,
    HealthPolicy,
    HealthState,
    InvalidArgumentError,
    UnauthenticatedError,
    Worker,
    verify_webhook,
)
from cronstream.v1 import alert_pb2, job_pb2, scheduler_service_pb2_grpc, webhook_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

from tests.conftest import Live, Tenant
from tests.webhook_helpers import receiving

T = TypeVar("T")
KEY = "cs_fake_key"
WAIT = 10.0
FAST = Backoff(base=0.01, cap=0.05)

# --- watch_alerts against a fake SchedulerService -------------------------------------


def event(cursor: int) -> pb.WatchAlertsResponse:
    alert = alert_pb2.Alert(
        id=f"a{cursor}", kind=job_pb2.HEALTH_STATE_LATE, state=alert_pb2.ALERT_STATE_OPEN
    )
    return pb.WatchAlertsResponse(
        event=alert_pb2.AlertEvent(
            cursor=cursor, type=alert_pb2.ALERT_EVENT_TYPE_OPENED, alert=alert
        )
    )


class FakeAlerts(scheduler_service_pb2_grpc.SchedulerServiceServicer):
    """WatchAlerts over a list of events: each stream sends those after its
    cursor, up to `break_after` of them, then breaks with UNAVAILABLE."""

    def __init__(self, events: int) -> None:
        self.events = [event(n) for n in range(1, events + 1)]
        self.cursors: list[int] = []
        self.break_after: list[int] = []  # per stream, in order; then never
        self.address = ""

    async def WatchAlerts(
        self, request: pb.WatchAlertsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.WatchAlertsResponse]:
        if dict(context.invocation_metadata()).get("authorization") != f"Bearer {KEY}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown API key")
        if request.after_cursor < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "after_cursor is negative")
        self.cursors.append(request.after_cursor)
        budget = self.break_after.pop(0) if self.break_after else None
        for response in self.events[request.after_cursor :]:
            if budget == 0:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "going away")
            yield response
            budget = None if budget is None else budget - 1
        await asyncio.Event().wait()  # then nothing more, until the client goes


@asynccontextmanager
async def serving(fake: FakeAlerts, port: int = 0) -> AsyncIterator[grpc.aio.Server]:
    server = grpc.aio.server()
    scheduler_service_pb2_grpc.add_SchedulerServiceServicer_to_server(fake, server)
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    fake.address = f"127.0.0.1:{port}"
    try:
        yield server
    finally:
        await server.stop(0)


async def take(alerts: AlertWatch, count: int) -> list[AlertEvent]:
    async with asyncio.timeout(WAIT):
        return [await anext(alerts) for _ in range(count)]


async def test_a_stream_broken_twice_resumes_each_time_with_nothing_lost_or_repeated() -> None:
    fake = FakeAlerts(events=7)
    fake.break_after = [2, 0, 3]
    async with serving(fake), Client.connect(fake.address, KEY) as client:
        async with client.watch_alerts(after_cursor=0, backoff=FAST) as alerts:
            got = await take(alerts, 7)
    assert [e.cursor for e in got] == [1, 2, 3, 4, 5, 6, 7]
    assert fake.cursors == [0, 2, 2, 5]
    assert got[0].type is AlertEventType.OPENED and got[0].alert.kind is HealthState.LATE


async def test_a_server_restart_on_the_same_address_is_survived() -> None:
    fake = FakeAlerts(events=2)
    async with serving(fake) as first:
        port = int(fake.address.rsplit(":", 1)[1])
        async with Client.connect(fake.address, KEY) as client:
            alerts = client.watch_alerts(after_cursor=0, backoff=FAST)
            assert [e.cursor for e in await take(alerts, 2)] == [1, 2]
            await first.stop(0)
            fake.events = [event(n) for n in range(1, 5)]  # two more while it was down
            async with serving(fake, port):
                assert [e.cursor for e in await take(alerts, 2)] == [3, 4]
            await alerts.aclose()
    assert fake.cursors == [0, 2]  # attempts while it was down never reached it


async def test_a_wrong_key_or_a_negative_cursor_end_it_with_the_typed_error() -> None:
    fake = FakeAlerts(events=1)
    async with serving(fake):
        async with Client.connect(fake.address, "cs_wrong") as client:
            with pytest.raises(UnauthenticatedError):
                await take(client.watch_alerts(backoff=FAST), 1)
        async with Client.connect(fake.address, KEY) as client:
            alerts = AlertWatch(
                lambda _: client.scheduler.WatchAlerts(
                    pb.WatchAlertsRequest(after_cursor=-1), metadata=client.metadata
                ),
                backoff=FAST,
            )
            with pytest.raises(InvalidArgumentError):
                await take(alerts, 1)
    assert fake.cursors == []  # no retry of either


# --- end to end, against the live server --------------------------------------------------


@pytest.fixture
async def client(live: Live, tenant: Tenant) -> AsyncIterator[Client]:
    async with Client.connect(live.address, tenant.secret) as client:
        yield client


async def until(check: Callable[[], Awaitable[T | None]], seconds: float = WAIT) -> T:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "not seen in time"
        await asyncio.sleep(0.05)


async def received(requests: list[T], count: int) -> bool:
    return len(requests) >= count


@asynccontextmanager
async def flaky_worker(live: Live, tenant: Tenant, fail: list[bool]) -> AsyncIterator[None]:
    """A worker for `flaky` that raises while `fail[0]` is True."""
    worker = Worker(api_key=tenant.secret, target=live.address, grace_period=2.0, backoff=FAST)

    @worker.handler("flaky")
    async def flaky(ctx: Context) -> dict[str, Any]:
        if fail[0]:
            raise RuntimeError("the report server is down")
        return {"ok": True}

    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        worker.stop()
        await task


async def test_a_failing_job_is_watched_listed_resolved_and_posted_signed(
    live: Live, tenant: Tenant, client: Client
) -> None:
    policy = HealthPolicy(consecutive_failures=1, max_duration=timedelta(minutes=5))
    job = await client.create_job(
        name="flaky report", handler="flaky", cron="0 3 1 1 *", max_retries=0, health_policy=policy
    )
    assert job.health_policy == policy  # what it set; the rest left to the defaults
    assert job.health is not None and job.health.state is HealthState.HEALTHY
    fail = [True]
    async with receiving() as receiver, flaky_worker(live, tenant, fail):
        hook = await client.scheduler.CreateWebhook(
            pb.CreateWebhookRequest(webhook=webhook_pb2.Webhook(url=receiver.url)),
            metadata=client.metadata,
        )
        async with client.watch_alerts(after_cursor=0, backoff=FAST) as alerts:
            # "From now" is from when the server reads the request: let it.
            await asyncio.sleep(0.3)
            await client.run_job(job.id)
            (opened,) = await take(alerts, 1)
        # That stream has ended; a new watch resumes after `opened`.

        assert (opened.type, opened.alert.kind) == (AlertEventType.OPENED, HealthState.FAILING)
        assert opened.alert.state is AlertState.OPEN and opened.alert.job_id == job.id
        assert opened.alert.opened_at is not None and opened.alert.resolved_at is None
        failing = await client.get_job(job.id)
        assert failing.health is not None and failing.health.state is HealthState.FAILING
        assert failing.health.since == opened.alert.opened_at
        assert [j.id async for j in client.list_jobs(healths=["failing"])] == [job.id]

        fail[0] = False
        await client.run_job(job.id)
        async with client.watch_alerts(after_cursor=alerts.cursor, backoff=FAST) as resumed:
            (resolved,) = await take(resumed, 1)
        await until(lambda: received(receiver.requests, 2))

    assert resolved.cursor > opened.cursor
    assert (resolved.type, resolved.alert.id) == (AlertEventType.RESOLVED, opened.alert.id)
    assert resolved.alert.state is AlertState.RESOLVED and resolved.alert.resolved_at is not None
    healthy = await client.get_job(job.id)
    assert healthy.health is not None and healthy.health.state is HealthState.HEALTHY
    listed = [a async for a in client.list_alerts(job_id=job.id, kinds=["failing"])]
    assert [(a.id, a.state) for a in listed] == [(opened.alert.id, AlertState.RESOLVED)]
    assert [a async for a in client.list_alerts(states=["open"])] == []

    posted = [
        verify_webhook(hook.secret, r.headers["cronstream-signature"], r.body)
        for r in receiver.requests
    ]
    assert [(e.cursor, e.type, e.alert) for e in posted] == [
        (opened.cursor, opened.type, opened.alert),
        (resolved.cursor, resolved.type, resolved.alert),
    ]
