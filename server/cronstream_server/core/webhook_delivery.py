"""Delivering alert events to webhooks: which webhook gets which event, what
is sent, and what follows an attempt (docs/alerts.md#webhooks).

Each event becomes one delivery per webhook of its platform that wants its
type and was created before it (fan_out). A delivery is attempted until a
receiver answers 2xx, with a backoff that doubles from `first_delay` up to
`cap`, times a jitter in [0.8, 1.2] (core.retry), for at most `retry_for`
after the delivery was made; an attempt that would fall later is not made
and the delivery is FAILED. Delivery is at least once: a replica that dies
after the receiver answered, before it recorded the answer, leaves the
delivery to be sent again; receivers deduplicate on Cronstream-Event-Id.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cronstream_server.core.ids import new_id
from cronstream_server.core.retry import retry_delay
from cronstream_server.core.values import value_type


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not attempted yet, or to be tried again
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # given up


@value_type
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(minutes=10)
    retry_for: timedelta = timedelta(hours=24)  # CRONSTREAM_WEBHOOK_RETRY_FOR


# --- fan-out ------------------------------------------------------------------


@value_type
class StoredEvent:
    """An alert event as the alert_events table holds it."""

    cursor: int
    type: str  # core.alerts.AlertEventType
    alert_id: str
    alert: dict[str, Any]  # cronstream.v1.Alert in its JSON mapping


@value_type
class Subscriber:
    """What fan-out needs of a webhook."""

    webhook_id: str
    events: tuple[str, ...]  # () wants every type
    starts_after: int  # the platform's last event cursor when it was created


@value_type
class NewDelivery:
    id: str
    webhook_id: str
    event: StoredEvent


def fan_out(events: Sequence[StoredEvent], subscribers: Sequence[Subscriber]) -> list[NewDelivery]:
    """One delivery per event and subscriber that wants it, in cursor order.
    The caller passes one platform's events and that platform's webhooks."""
    return [
        NewDelivery(new_id(), subscriber.webhook_id, event)
        for event in events
        for subscriber in subscribers
        if event.cursor > subscriber.starts_after
        and (not subscriber.events or event.type in subscriber.events)
    ]


# --- an attempt ----------------------------------------------------------------


@value_type
class ClaimedDelivery:
    """A delivery claimed for one attempt, with what sending it needs."""

    id: str
    webhook_id: str
    url: str
    secret: str = field(repr=False)
    event: StoredEvent
    attempt: int  # 1 for the first
    created_at: datetime  # when the delivery was made: the retry period starts
    claimed_at: datetime


@value_type
class AttemptResult:
    response_code: int | None  # None: no response
    error: str  # "" when it succeeded
    duration: timedelta

    @property
    def succeeded(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300


@value_type
class Settled:
    """Where a delivery stands after an attempt."""

    status: DeliveryStatus
    next_attempt_at: datetime | None = None  # while PENDING


def settle(
    claimed: ClaimedDelivery,
    result: AttemptResult,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> Settled:
    if result.succeeded:
        return Settled(DeliveryStatus.SUCCEEDED)
    wait = retry_delay(policy.first_delay, claimed.attempt - 1, rng, policy.cap)
    if now + wait > claimed.created_at + policy.retry_for:
        return Settled(DeliveryStatus.FAILED)
    return Settled(DeliveryStatus.PENDING, now + wait)


def body(event: StoredEvent) -> bytes:
    """The request body: `{"type": "alert.opened", "cursor": 12, "alert": {...}}`."""
    document = {"type": f"alert.{event.type}", "cursor": event.cursor, "alert": event.alert}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


# --- what ListWebhookDeliveries shows ----------------------------------------------


@value_type
class DeliveryAttempt:
    """One attempt of a delivery (attempt 0: a delivery not attempted yet),
    and where the delivery stood after it."""

    delivery_id: str
    webhook_id: str
    event_cursor: int
    event_type: str
    alert_id: str
    attempt: int
    status: DeliveryStatus
    response_code: int | None = None
    error: str = ""
    attempted_at: datetime | None = None
    next_attempt_at: datetime | None = None
    duration: timedelta | None = None

    @property
    def sort_key(self) -> tuple[str, ...]:
        """Its key in the listing: newest event first, its latest attempt first."""
        return (str(self.event_cursor), str(self.attempt))
