"""Executions: one run of a job for one slot (or a manual run, or an event
delivery), and the transitions users can ask for."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger, LogLevel, Priority
from cronstream_server.core.errors import FailedPrecondition
from cronstream_server.core.ids import new_id
from cronstream_server.core.jobs import Job
from cronstream_server.core.limits import NO_KEYS, Keys, keys_for
from cronstream_server.core.tracing import TraceContext
from cronstream_server.core.values import value_type

_RETRYABLE_BY_USER = frozenset(
    {ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT, ExecutionStatus.CANCELLED}
)
_CANCELLABLE = frozenset(
    {ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING}
)


@value_type
class Execution:
    id: str
    platform_id: str
    job_id: str | None
    event_handler_id: str | None
    trigger: ExecutionTrigger
    status: ExecutionStatus
    handler_name: str
    payload: dict[str, Any] | None
    priority: Priority
    scheduled_at: datetime
    due_at: datetime
    max_retries: int
    retry_delay: timedelta
    timeout: timedelta
    created_at: datetime
    attempt: int = 1
    retry_count: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    error_stack: str | None = None
    next_retry_at: datetime | None = None
    worker_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    # The causing call's context (a manual run, an event delivery), which the
    # execution's spans continue; or, for a scheduled slot, the job's, which
    # the firing's own trace links to (core.tracing.lineage).
    trace: TraceContext | None = None
    # WAITING (core.dependencies): the jobs whose slot has not succeeded yet,
    # as the gate last saw them, and when the slot stops waiting.
    waiting_for: tuple[str, ...] = ()
    wait_deadline: datetime | None = None
    # Its job's or handler's concurrency and rate-limit keys, expanded over
    # its payload when it was created (core.limits); retries keep them.
    keys: Keys = NO_KEYS
    # While running: when its lease ends unless a heartbeat extends it. Read
    # from the store for callers to see; the dispatch store alone moves it
    # (claim, heartbeat, settle), so no rule here sets it.
    lease_expires_at: datetime | None = None


@value_type
class ExecutionLog:
    execution_id: str
    time: datetime
    level: LogLevel
    message: str
    attempt: int
    # The stored line's id, which log pages are keyed on; None until stored.
    id: int | None = None


def for_job(
    job: Job,
    trigger: ExecutionTrigger,
    scheduled_at: datetime,
    now: datetime,
    payload: dict[str, Any] | None = None,
    trace: TraceContext | None = None,
) -> Execution:
    """A pending execution of `job`, due at `scheduled_at`. A slot of the
    schedule keeps the job's trace context (the call that created or last
    updated it), which its firing links to; a manual run or an event delivery
    keeps `trace`, the causing call's, which it continues: without one it
    starts a trace of its own rather than joining the job's, which a job run
    often would make endless (core.tracing.lineage)."""
    spec = job.spec
    payload = spec.payload if payload is None else payload
    return Execution(
        id=new_id(),
        platform_id=job.platform_id,
        job_id=job.id,
        event_handler_id=None,
        trigger=trigger,
        status=ExecutionStatus.PENDING,
        handler_name=spec.handler_name,
        payload=payload,
        priority=spec.priority,
        scheduled_at=scheduled_at,
        due_at=scheduled_at,
        max_retries=spec.max_retries,
        retry_delay=spec.retry_delay,
        timeout=spec.timeout,
        created_at=now,
        trace=job.trace if trigger is ExecutionTrigger.SCHEDULE else trace,
        keys=keys_for(spec.concurrency, spec.rate_limit_key, payload),
    )


def waiting(execution: Execution, job: Job) -> Execution:
    """A slot of a job with dependencies: fired WAITING for all of them, until
    the gate (core.dependencies) releases it or its job's max_wait passes."""
    return replace(
        execution,
        status=ExecutionStatus.WAITING,
        waiting_for=job.spec.depends_on,
        wait_deadline=execution.scheduled_at + job.spec.max_wait,
    )


def retry_by_user(execution: Execution, now: datetime) -> Execution:
    """RetryExecution: a finished-but-unsuccessful execution runs again now,
    as a new attempt (a late result of the old attempt is refused)."""
    if execution.status not in _RETRYABLE_BY_USER:
        raise FailedPrecondition(
            f"execution is {execution.status.value}; only a failed, timed-out or cancelled "
            "execution can be retried"
        )
    return replace(
        execution,
        status=ExecutionStatus.PENDING,
        attempt=execution.attempt + 1,
        retry_count=execution.retry_count + 1,
        due_at=now,
        next_retry_at=None,
        started_at=None,
        completed_at=None,
        duration_ms=None,
        result=None,
        error=None,
        error_stack=None,
        worker_id=None,
    )


def cancel_by_user(execution: Execution, now: datetime) -> Execution:
    if execution.status not in _CANCELLABLE:
        raise FailedPrecondition(
            f"execution is {execution.status.value}; only a waiting, pending or running one "
            "can be cancelled"
        )
    return replace(
        execution,
        status=ExecutionStatus.CANCELLED,
        waiting_for=(),
        completed_at=now,
        next_retry_at=None,
        error="cancelled by user",
    )


def skipped(execution: Execution, why: str, now: datetime) -> Execution:
    """A slot recorded but not run (missed, or refused by the overlap policy)."""
    return replace(execution, status=ExecutionStatus.SKIPPED, completed_at=now, error=why)


def due(execution: Execution, at: datetime) -> Execution:
    """The same pending execution, dispatchable from `at` (jitter, buffering)."""
    return replace(execution, due_at=at)
