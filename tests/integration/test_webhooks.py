"""Webhooks on a live server, on SQLite and Postgres, delivering to a real
HTTP receiver on 127.0.0.1: alert events written as the alert store writes
them arrive once each, signed; a failing receiver is retried and every
attempt is listed; a platform's webhooks see only its own events; bad
webhooks are refused; two replicas deliver each event once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import grpc
import pytest
from cronstream.v1 import alert_pb2, webhook_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.config import Settings
from cronstream_server.core.webhook_signature import verify
from cronstream_server.server import start

from tests.conftest import ADMIN_KEY, Live, Tenant, make_tenant
from tests.jobs import create, cron_job
from tests.status import expect_code, violations
from tests.webhook_helpers import Receiver, add_alert_event, receiving

OPENED, RESOLVED = alert_pb2.ALERT_EVENT_TYPE_OPENED, alert_pb2.ALERT_EVENT_TYPE_RESOLVED
PENDING = webhook_pb2.WEBHOOK_DELIVERY_STATUS_PENDING
SUCCEEDED = webhook_pb2.WEBHOOK_DELIVERY_STATUS_SUCCEEDED
FAILED = webhook_pb2.WEBHOOK_DELIVERY_STATUS_FAILED
QUIET_SECONDS = 1.5  # three passes of the delivery loop: long enough to see a duplicate


async def until(check: Callable[[], Awaitable[bool] | bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if not isinstance(found, bool):
            found = await found
        if found:
            return
        assert time.monotonic() < deadline, "not seen in time"
        await asyncio.sleep(0.05)


async def make_webhook(
    live: Live, tenant: Tenant, url: str, events: list[Any] | None = None
) -> pb.CreateWebhookResponse:
    webhook = webhook_pb2.Webhook(url=url, events=events or [], description="test receiver")
    return await live.scheduler.CreateWebhook(  # type: ignore[no-any-return]
        pb.CreateWebhookRequest(webhook=webhook), metadata=tenant.auth
    )


async def deliveries(live: Live, tenant: Tenant, webhook_id: str) -> list[Any]:
    response = await live.scheduler.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(webhook_id=webhook_id), metadata=tenant.auth
    )
    return list(response.deliveries)


async def job_of(live: Live, tenant: Tenant) -> str:
    return (await create(live, tenant, cron_job())).id


def signed(received: Receiver, secret: str) -> bool:
    now = int(time.time())
    return all(
        verify(secret, r.headers["cronstream-signature"], r.body, now) for r in received.requests
    )


async def test_each_event_arrives_once_signed_and_as_its_webhook_asked(
    live: Live, tenant: Tenant
) -> None:
    job_id = await job_of(live, tenant)
    async with receiving() as every, receiving() as resolved_only:
        all_hook = await make_webhook(live, tenant, every.url)
        resolved_hook = await make_webhook(live, tenant, resolved_only.url, [RESOLVED])
        url = live.database_url
        opened_cursor, _ = await add_alert_event(url, tenant.platform.id, job_id, "opened")
        await until(lambda: len(every.requests) == 1)
        alert_id = every.requests[0].json["alert"]["id"]
        resolved_cursor, every_alert = await add_alert_event(
            url, tenant.platform.id, job_id, "resolved", alert_id
        )
        await until(lambda: len(every.requests) == 2 and len(resolved_only.requests) == 1)
        await asyncio.sleep(QUIET_SECONDS)

    assert len(every.requests) == 2 and len(resolved_only.requests) == 1  # once each
    first, second = every.requests
    assert first.json["type"] == "alert.opened" and first.json["cursor"] == opened_cursor
    assert second.json == {
        "type": "alert.resolved",
        "cursor": resolved_cursor,
        "alert": every_alert,
    }
    assert resolved_only.requests[0].body == second.body
    assert [r.headers["cronstream-event-id"] for r in every.requests] == [
        str(opened_cursor),
        str(resolved_cursor),
    ]
    assert first.path == "/hook" and first.headers["content-type"] == "application/json"
    assert signed(every, all_hook.secret) and signed(resolved_only, resolved_hook.secret)
    assert not signed(every, resolved_hook.secret)  # each webhook its own secret

    listed = await deliveries(live, tenant, all_hook.webhook.id)
    assert [(d.event_cursor, d.event_type, d.attempt, d.status) for d in listed] == [
        (resolved_cursor, RESOLVED, 1, SUCCEEDED),
        (opened_cursor, OPENED, 1, SUCCEEDED),
    ]
    assert listed[0].response_code == 200 and listed[0].error == ""
    assert listed[0].alert_id == alert_id
    assert listed[0].id == every.requests[1].headers["cronstream-delivery-id"]


async def test_a_receiver_failing_twice_gets_the_third_attempt_and_all_three_are_listed(
    live: Live, tenant: Tenant
) -> None:
    job_id = await job_of(live, tenant)
    async with receiving(codes=[500, 500]) as receiver:
        hook = await make_webhook(live, tenant, receiver.url)
        cursor, _ = await add_alert_event(live.database_url, tenant.platform.id, job_id, "opened")
        await until(lambda: len(receiver.requests) == 3)  # 1 s, then 2 s of backoff
        await asyncio.sleep(QUIET_SECONDS)

    assert len(receiver.requests) == 3
    assert {r.headers["cronstream-event-id"] for r in receiver.requests} == {str(cursor)}
    assert len({r.headers["cronstream-delivery-id"] for r in receiver.requests}) == 1
    assert signed(receiver, hook.secret)  # each attempt signed anew
    listed = await deliveries(live, tenant, hook.webhook.id)
    assert [(d.attempt, d.status, d.response_code) for d in listed] == [
        (3, SUCCEEDED, 200),
        (2, PENDING, 500),
        (1, PENDING, 500),
    ]
    assert listed[1].error == "HTTP 500: failure 500"
    assert listed[1].next_attempt_at.ToDatetime() > listed[1].attempted_at.ToDatetime()
    assert all(d.duration.ToTimedelta() < timedelta(seconds=5) for d in listed)
    assert len({d.id for d in listed}) == 1 and listed[0].event_cursor == cursor


async def test_a_webhook_gets_only_its_own_platforms_events(live: Live, tenant: Tenant) -> None:
    other = await make_tenant(live, "other")
    job_id = await job_of(live, tenant)
    async with receiving() as ours, receiving() as theirs:
        our_hook = await make_webhook(live, tenant, ours.url)
        their_hook = await make_webhook(live, other, theirs.url)
        await add_alert_event(live.database_url, tenant.platform.id, job_id, "opened")
        await until(lambda: len(ours.requests) == 1)
        await asyncio.sleep(QUIET_SECONDS)
    assert theirs.requests == []
    assert await deliveries(live, other, their_hook.webhook.id) == []
    for call in (
        live.scheduler.GetWebhook(
            pb.GetWebhookRequest(id=our_hook.webhook.id), metadata=other.auth
        ),
        live.scheduler.ListWebhookDeliveries(
            pb.ListWebhookDeliveriesRequest(webhook_id=our_hook.webhook.id), metadata=other.auth
        ),
        live.scheduler.DeleteWebhook(
            pb.DeleteWebhookRequest(id=our_hook.webhook.id), metadata=other.auth
        ),
    ):
        await expect_code(call, grpc.StatusCode.NOT_FOUND)
    listed = await live.scheduler.ListWebhooks(pb.ListWebhooksRequest(), metadata=other.auth)
    assert [w.id for w in listed.webhooks] == [their_hook.webhook.id]


async def test_a_webhook_gets_the_events_after_it_was_created(live: Live, tenant: Tenant) -> None:
    job_id = await job_of(live, tenant)
    _, alert = await add_alert_event(live.database_url, tenant.platform.id, job_id, "opened")
    async with receiving() as receiver:
        await make_webhook(live, tenant, receiver.url)
        later, _ = await add_alert_event(
            live.database_url, tenant.platform.id, job_id, "resolved", alert["id"]
        )
        await until(lambda: len(receiver.requests) == 1)
        await asyncio.sleep(QUIET_SECONDS)
    assert [r.json["cursor"] for r in receiver.requests] == [later]


async def test_webhooks_are_created_read_listed_and_deleted_without_their_secret(
    live: Live, tenant: Tenant
) -> None:
    created = await make_webhook(live, tenant, "http://127.0.0.1:9/one", [OPENED])
    assert created.secret.startswith("whsec_") and len(created.secret) > 40
    second = await make_webhook(live, tenant, "https://localhost/two")
    got = await live.scheduler.GetWebhook(
        pb.GetWebhookRequest(id=created.webhook.id), metadata=tenant.auth
    )
    assert got.webhook == created.webhook
    assert list(got.webhook.events) == [OPENED] and got.webhook.platform_id == tenant.platform.id
    assert created.secret not in str(got)
    first_page = await live.scheduler.ListWebhooks(
        pb.ListWebhooksRequest(page_size=1), metadata=tenant.auth
    )
    assert [w.id for w in first_page.webhooks] == [second.webhook.id]  # newest first
    rest = await live.scheduler.ListWebhooks(
        pb.ListWebhooksRequest(page_size=1, page_token=first_page.next_page_token),
        metadata=tenant.auth,
    )
    assert [w.id for w in rest.webhooks] == [created.webhook.id]
    await live.scheduler.DeleteWebhook(
        pb.DeleteWebhookRequest(id=created.webhook.id), metadata=tenant.auth
    )
    await expect_code(
        live.scheduler.GetWebhook(
            pb.GetWebhookRequest(id=created.webhook.id), metadata=tenant.auth
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_a_deleted_webhook_takes_its_deliveries_and_gets_nothing_more(
    live: Live, tenant: Tenant
) -> None:
    job_id = await job_of(live, tenant)
    async with receiving(then=500) as receiver:
        hook = await make_webhook(live, tenant, receiver.url)
        await add_alert_event(live.database_url, tenant.platform.id, job_id, "opened")
        await until(lambda: len(receiver.requests) == 1)
        await live.scheduler.DeleteWebhook(
            pb.DeleteWebhookRequest(id=hook.webhook.id), metadata=tenant.auth
        )
        await asyncio.sleep(2.5)  # past the second attempt's backoff
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
        ("http://[::ffff:169.254.169.254]/", "(169.254.169.254) is link-local"),
        ("http://[fd00:ec2::254]/", "a cloud metadata address"),
        ("http://0.0.0.0:8080/", "unspecified"),
        ("ftp://example.com/hook", "must be an http or https URL"),
        ("https:///nohost", "must name a host"),
        ("http://user:pw@example.com/", "must not hold a user or password"),
    ],
)
async def test_a_bad_or_forbidden_url_is_refused_naming_webhook_url(
    live: Live, tenant: Tenant, url: str, why: str
) -> None:
    error = await expect_code(make_webhook(live, tenant, url), grpc.StatusCode.INVALID_ARGUMENT)
    assert why in violations(error)["webhook.url"]


async def test_every_bad_field_is_named_at_once(live: Live, tenant: Tenant) -> None:
    webhook = webhook_pb2.Webhook(url="gopher://x", events=[99], description="x" * 1001)  # type: ignore[list-item]
    error = await expect_code(
        live.scheduler.CreateWebhook(
            pb.CreateWebhookRequest(webhook=webhook), metadata=tenant.auth
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violations(error).keys() == {"webhook.url", "webhook.events[0]", "webhook.description"}
    missing = await expect_code(
        live.scheduler.CreateWebhook(pb.CreateWebhookRequest(), metadata=tenant.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violations(missing) == {"webhook": "is required"}


@asynccontextmanager
async def replica(database_url: str, **overrides: Any) -> AsyncIterator[Live]:
    settings = Settings(
        listen="127.0.0.1:0",
        database_url=database_url,
        admin_key=ADMIN_KEY,
        shutdown_grace_seconds=0.5,
        **overrides,
    )
    running = await start(settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield Live(running=running, channel=channel, database_url=database_url)
    finally:
        await channel.close()
        await running.stop()


async def test_a_delivery_is_failed_once_its_retry_period_is_over(database_url: str) -> None:
    async with replica(database_url, webhook_retry_for=timedelta(seconds=2)) as live:
        tenant = await make_tenant(live, "gives-up")
        job_id = await job_of(live, tenant)
        async with receiving(then=503) as receiver:
            hook = await make_webhook(live, tenant, receiver.url)
            await add_alert_event(database_url, tenant.platform.id, job_id, "opened")

            async def failed() -> bool:
                listed = await deliveries(live, tenant, hook.webhook.id)
                return bool(listed) and listed[0].status == FAILED

            await until(failed)
            attempts = len(receiver.requests)
            await asyncio.sleep(QUIET_SECONDS)
        listed = await deliveries(live, tenant, hook.webhook.id)
    assert len(receiver.requests) == attempts == len(listed) >= 2  # 1 s, then 2 s: over
    assert listed[0].attempt == attempts and listed[0].response_code == 503
    assert not listed[0].HasField("next_attempt_at")


async def test_two_replicas_deliver_each_event_exactly_once(live: Live, tenant: Tenant) -> None:
    if not live.database_url.startswith("postgresql"):
        pytest.skip("one process per SQLite database")
    job_id = await job_of(live, tenant)
    url = live.database_url
    async with (
        replica(url, ticker=False),
        receiving() as receiver,
    ):
        await make_webhook(live, tenant, receiver.url)
        cursors = []
        for _ in range(15):  # one alert open at a time: open, resolve, open again...
            opened, alert = await add_alert_event(url, tenant.platform.id, job_id, "opened")
            resolved, _ = await add_alert_event(
                url, tenant.platform.id, job_id, "resolved", alert["id"]
            )
            cursors += [opened, resolved]
        await until(lambda: len(receiver.requests) >= len(cursors))
        await asyncio.sleep(QUIET_SECONDS)
    seen = sorted(int(r.headers["cronstream-event-id"]) for r in receiver.requests)
    assert seen == sorted(cursors)
