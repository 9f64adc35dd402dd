"""Events: handlers that listen to an event name, and what TriggerEvent creates.

An event fans out to one pending execution per enabled handler of its name
and per active event job of its name, in the caller's platform. Each
execution carries the event's payload merged over the listener's own payload
(a shallow merge: the event's top-level keys win).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from cronstream_server.core import executions as execution_rules
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger, HandlerType, Priority
from cronstream_server.core.errors import FieldViolation
from cronstream_server.core.executions import Execution
from cronstream_server.core.ids import new_id
from cronstream_server.core.jobs import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_DELAY,
    DEFAULT_TIMEOUT,
    MAX_DURATION,
    MAX_RETRIES_LIMIT,
    Job,
)
from cronstream_server.core.limits import (
    ConcurrencyLimit,
    check_concurrency,
    check_key,
    keys_for,
)
from cronstream_server.core.tracing import TraceContext
from cronstream_server.core.validation import check_name, raise_if_any
from cronstream_server.core.values import value_type

MAX_REQUEST_ID_LENGTH = 200


@value_type
class EventHandlerSpec:
    """Everything about an event handler that its owner sets."""

    event_name: str
    handler_name: str
    handler_type: HandlerType = HandlerType.FUNCTION
    payload: dict[str, Any] | None = None
    enabled: bool = True
    priority: Priority = Priority.MEDIUM
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_delay: timedelta = DEFAULT_RETRY_DELAY
    timeout: timedelta = DEFAULT_TIMEOUT
    concurrency: ConcurrencyLimit | None = None
    rate_limit_key: str = ""


@value_type
class EventHandler:
    id: str
    platform_id: str
    spec: EventHandlerSpec
    created_at: datetime
    updated_at: datetime


@value_type
class Event:
    """One TriggerEvent call, received `at`; `request_id` None: not idempotent."""

    platform_id: str
    name: str
    payload: dict[str, Any] | None
    request_id: str | None
    at: datetime
    trace: TraceContext | None = None  # of the TriggerEvent call


@value_type
class Delivered:
    """What one event created (EventDeliveryStore.deliver)."""

    execution_ids: list[str]
    created: bool  # False: a repeated request id; the ids are the first call's


# --- validation -------------------------------------------------------------


def validate_spec(spec: EventHandlerSpec, prefix: str, violations: list[FieldViolation]) -> None:
    """Appends a violation for every bad field of `spec`, then raises
    InvalidArgument if there is any (including ones the caller collected)."""
    check_name(violations, f"{prefix}.event_name", spec.event_name)
    check_name(violations, f"{prefix}.handler_name", spec.handler_name)
    if not 0 <= spec.max_retries <= MAX_RETRIES_LIMIT:
        violations.append(
            FieldViolation(f"{prefix}.max_retries", f"must be 0 to {MAX_RETRIES_LIMIT}")
        )
    _check_positive(violations, f"{prefix}.retry_delay", spec.retry_delay)
    _check_positive(violations, f"{prefix}.timeout", spec.timeout)
    check_concurrency(violations, f"{prefix}.concurrency", spec.concurrency)
    check_key(violations, f"{prefix}.rate_limit_key", spec.rate_limit_key, required=False)
    raise_if_any(violations)


def _check_positive(violations: list[FieldViolation], path: str, value: timedelta) -> None:
    if value <= timedelta(0):
        violations.append(FieldViolation(path, "must be positive"))
    elif value > MAX_DURATION:
        violations.append(FieldViolation(path, "must be at most 366 days"))


def validate_event(name: str, request_id: str, violations: list[FieldViolation]) -> None:
    """TriggerEvent's own fields (the payload's size is checked on reading)."""
    check_name(violations, "event_name", name)
    check_name(
        violations, "request_id", request_id, required=False, max_length=MAX_REQUEST_ID_LENGTH
    )
    raise_if_any(violations)


# --- lifecycle --------------------------------------------------------------


def new_handler(spec: EventHandlerSpec, platform_id: str, now: datetime) -> EventHandler:
    return EventHandler(
        id=new_id(), platform_id=platform_id, spec=spec, created_at=now, updated_at=now
    )


def respec(handler: EventHandler, spec: EventHandlerSpec, now: datetime) -> EventHandler:
    """UpdateEventHandler: a handler with a new spec; disabling one leaves the
    executions it already created alone."""
    return replace(handler, spec=spec, updated_at=now)


# --- delivery ---------------------------------------------------------------


def merge_payload(
    own: dict[str, Any] | None, event: dict[str, Any] | None
) -> dict[str, Any] | None:
    """`event` over `own`, top-level keys only; None when neither has a payload."""
    if own is None and event is None:
        return None
    return {**(own or {}), **(event or {})}


def deliveries(
    event: Event, handlers: Sequence[EventHandler], jobs: Sequence[Job]
) -> list[Execution]:
    """The pending executions `event` creates, due at once: one per handler,
    then one per job, in the order given. The caller passes only enabled
    handlers and active event jobs of the event's name and platform."""
    made = [
        replace(for_handler(handler, event.payload, event.at), trace=event.trace)
        for handler in handlers
    ]
    made += [
        execution_rules.for_job(
            job,
            ExecutionTrigger.EVENT,
            event.at,
            event.at,
            payload=merge_payload(job.spec.payload, event.payload),
            trace=event.trace,
        )
        for job in jobs
    ]
    return made


def for_handler(
    handler: EventHandler, event_payload: dict[str, Any] | None, now: datetime
) -> Execution:
    """A pending execution of `handler`, due now; it belongs to no job."""
    spec = handler.spec
    payload = merge_payload(spec.payload, event_payload)
    return Execution(
        id=new_id(),
        platform_id=handler.platform_id,
        job_id=None,
        event_handler_id=handler.id,
        trigger=ExecutionTrigger.EVENT,
        status=ExecutionStatus.PENDING,
        handler_name=spec.handler_name,
        payload=payload,
        priority=spec.priority,
        scheduled_at=now,
        due_at=now,
        max_retries=spec.max_retries,
        retry_delay=spec.retry_delay,
        timeout=spec.timeout,
        created_at=now,
        keys=keys_for(spec.concurrency, spec.rate_limit_key, payload),
    )
