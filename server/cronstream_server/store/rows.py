"""Rows <-> domain objects for jobs and executions."""

from __future__ import annotations

import functools
from datetime import timedelta
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy.engine import Row, RowMapping

from cronstream_server.core.enums import (
    ExecutionStatus,
    ExecutionTrigger,
    HandlerType,
    HealthState,
    JobStatus,
    LogLevel,
    MisfirePolicy,
    OverlapPolicy,
    Priority,
)
from cronstream_server.core.executions import Execution, ExecutionLog
from cronstream_server.core.health import HealthPolicy, JobHealth
from cronstream_server.core.jobs import Job, JobSpec
from cronstream_server.core.limits import NO_KEYS, ConcurrencyLimit, Keys
from cronstream_server.core.tracing import TraceContext
from cronstream_server.core.triggers import (
    CronTrigger,
    EventTrigger,
    IntervalTrigger,
    OnceTrigger,
    Trigger,
)

EnumT = TypeVar("EnumT", bound=Enum)


def _trace_values(trace: TraceContext | None) -> dict[str, str | None]:
    if trace is None:
        return {"traceparent": None, "tracestate": None}
    return {"traceparent": trace.traceparent, "tracestate": trace.tracestate or None}


def _trace(row: RowMapping) -> TraceContext | None:
    return TraceContext(row["traceparent"], row["tracestate"] or "") if row["traceparent"] else None


def concurrency_values(concurrency: ConcurrencyLimit | None, rate_limit_key: str) -> dict[str, Any]:
    """The limit columns of a job or event handler row."""
    return {
        "concurrency_key": concurrency.key if concurrency else None,
        "concurrency_limit": concurrency.limit if concurrency else None,
        "rate_limit_key": rate_limit_key or None,
    }


def concurrency_from_row(row: RowMapping) -> ConcurrencyLimit | None:
    key, limit = row["concurrency_key"], row["concurrency_limit"]
    return None if key is None or limit is None else ConcurrencyLimit(key, limit)


def _keys_values(keys: Keys) -> dict[str, Any]:
    return {
        "concurrency_key": keys.concurrency_key,
        "concurrency_limit": keys.concurrency_limit,
        "rate_limit_key": keys.rate_limit_key,
        "rate_limit_template": keys.rate_limit_template,
    }


def keys_from_row(row: RowMapping) -> Keys:
    concurrency_key, template = row["concurrency_key"], row["rate_limit_template"]
    if concurrency_key is None and template is None:
        return NO_KEYS  # the common case: one shared value, told apart by identity
    return Keys(
        concurrency_key=concurrency_key,
        concurrency_limit=row["concurrency_limit"],
        rate_limit_key=row["rate_limit_key"],
        rate_limit_template=template,
    )


def _ms(value: timedelta) -> int:
    return value // timedelta(milliseconds=1)


def trigger_values(trigger: Trigger | None) -> dict[str, Any]:
    """The trigger columns: those of its kind set, the others cleared."""
    values: dict[str, Any] = dict.fromkeys(
        (
            "schedule",
            "timezone",
            "run_at",
            "interval_ms",
            "start_at",
            "end_at",
            "max_runs",
            "event_name",
        )
    )
    match trigger:
        case CronTrigger():
            values.update(schedule=trigger.expression, timezone=trigger.timezone)
        case OnceTrigger():
            values.update(run_at=trigger.run_at)
        case IntervalTrigger():
            values.update(
                interval_ms=_ms(trigger.every),
                start_at=trigger.start_at,
                end_at=trigger.end_at,
                max_runs=trigger.max_runs,
            )
        case EventTrigger():
            values.update(event_name=trigger.event_name)
    return values


def trigger_from_row(row: RowMapping) -> Trigger:
    if row["type"] == "cron":
        return CronTrigger(row["schedule"], row["timezone"] or "UTC")
    if row["type"] == "one_time":
        return OnceTrigger(row["run_at"])
    if row["type"] == "recurring":
        return IntervalTrigger(
            every=timedelta(milliseconds=row["interval_ms"]),
            start_at=row["start_at"],
            end_at=row["end_at"],
            max_runs=row["max_runs"],
        )
    return EventTrigger(row["event_name"])


def job_values(job: Job) -> dict[str, Any]:
    """Every column of a job row."""
    spec = job.spec
    return {
        "id": job.id,
        "platform_id": job.platform_id,
        "name": spec.name,
        "type": spec.type.value,
        "status": job.status.value,
        **trigger_values(spec.trigger),
        "next_run": job.next_run,
        "last_run": job.last_run,
        "handler_name": spec.handler_name,
        "handler_type": spec.handler_type.value,
        "payload": spec.payload,
        "max_retries": spec.max_retries,
        "retry_delay_ms": _ms(spec.retry_delay),
        "timeout_ms": _ms(spec.timeout),
        "priority": int(spec.priority),
        "overlap_policy": spec.overlap_policy.value,
        "misfire_policy": spec.misfire_policy.value,
        "catchup_window_ms": _ms(spec.catchup_window),
        "jitter_ms": _ms(spec.jitter),
        **_policy_values(spec.health_policy),
        "max_wait_ms": _ms(spec.max_wait),
        **concurrency_values(spec.concurrency, spec.rate_limit_key),
        "runs_count": job.runs_count,
        "tags": list(spec.tags),
        "metadata": dict(spec.metadata),
        "created_by": job.created_by,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "completed_at": job.completed_at,
        "cancelled_at": job.cancelled_at,
        "paused_until": job.paused_until,
        **_trace_values(job.trace),
    }


def _policy_values(policy: HealthPolicy) -> dict[str, Any]:
    return {
        "max_start_delay_ms": None
        if policy.max_start_delay is None
        else _ms(policy.max_start_delay),
        "max_duration_ms": None if policy.max_duration is None else _ms(policy.max_duration),
        "consecutive_failures": policy.consecutive_failures,
        "alert_on_missed": policy.alert_on_missed,
        "pause_on_failure": policy.pause_on_failure,
    }


def _delta(ms: int | None) -> timedelta | None:
    return None if ms is None else milliseconds(ms)


@functools.lru_cache(maxsize=1024)
def milliseconds(ms: int) -> timedelta:
    """A column's milliseconds as a timedelta, remembered: jobs share a few
    values (timeouts, retry delays, windows), and the ticker reads five of
    them for every job it claims."""
    return timedelta(milliseconds=ms)


def _by_value(kind: type[EnumT]) -> dict[Any, EnumT]:
    """An enum's members by their stored value: a dict lookup costs a tenth
    of calling the enum, and rows are read by the hundred."""
    return {member.value: member for member in kind}


_HANDLER_TYPES = _by_value(HandlerType)
PRIORITIES = _by_value(Priority)
_OVERLAP_POLICIES = _by_value(OverlapPolicy)
_MISFIRE_POLICIES = _by_value(MisfirePolicy)
_JOB_STATUSES = _by_value(JobStatus)
_HEALTH_STATES = _by_value(HealthState)
EXECUTION_TRIGGERS = _by_value(ExecutionTrigger)
EXECUTION_STATUSES = _by_value(ExecutionStatus)
_DEFAULT_POLICY = HealthPolicy()
_UNSET_POLICY = (None, None, None, None, None)
_HEALTHY = JobHealth()


def _health_policy(r: RowMapping) -> HealthPolicy:
    columns = (
        r["max_start_delay_ms"],
        r["max_duration_ms"],
        r["consecutive_failures"],
        r["alert_on_missed"],
        r["pause_on_failure"],
    )
    if columns == _UNSET_POLICY:  # most jobs: one shared value, as for health
        return _DEFAULT_POLICY
    max_start_delay, max_duration, consecutive_failures, alert_on_missed, pause_on_failure = columns
    return HealthPolicy(
        max_start_delay=_delta(max_start_delay),
        max_duration=_delta(max_duration),
        consecutive_failures=consecutive_failures,
        alert_on_missed=alert_on_missed,
        pause_on_failure=pause_on_failure,
    )


def _health(r: RowMapping) -> JobHealth:
    state, since, reason = r["health"], r["health_since"], r["health_reason"]
    if state == "healthy" and since is None and not reason:
        return _HEALTHY
    return JobHealth(_HEALTH_STATES[state], since, reason or "")


def job_from_row(row: Row[Any]) -> Job:
    r = row._mapping  # by key: a fraction of the cost of attribute access
    spec = JobSpec(
        name=r["name"],
        handler_name=r["handler_name"],
        trigger=trigger_from_row(r),
        handler_type=_HANDLER_TYPES[r["handler_type"]],
        payload=r["payload"],
        max_retries=r["max_retries"],
        retry_delay=milliseconds(r["retry_delay_ms"]),
        timeout=milliseconds(r["timeout_ms"]),
        priority=PRIORITIES[r["priority"]],
        tags=tuple(r["tags"]),
        metadata=dict(r["metadata"]),
        overlap_policy=_OVERLAP_POLICIES[r["overlap_policy"]],
        misfire_policy=_MISFIRE_POLICIES[r["misfire_policy"]],
        catchup_window=milliseconds(r["catchup_window_ms"]),
        jitter=milliseconds(r["jitter_ms"]),
        health_policy=_health_policy(r),
        # depends_on lives in job_dependencies (store.dependencies adds it).
        max_wait=milliseconds(r["max_wait_ms"]),
        concurrency=concurrency_from_row(r),
        rate_limit_key=r["rate_limit_key"] or "",
    )
    return Job(
        id=r["id"],
        platform_id=r["platform_id"],
        spec=spec,
        status=_JOB_STATUSES[r["status"]],
        created_by=r["created_by"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        next_run=r["next_run"],
        last_run=r["last_run"],
        runs_count=r["runs_count"],
        executions_count=r["executions_count"],
        success_count=r["success_count"],
        failure_count=r["failure_count"],
        avg_duration_ms=r["avg_duration_ms"],
        completed_at=r["completed_at"],
        cancelled_at=r["cancelled_at"],
        health=_health(r),
        failure_streak=r["failure_streak"],
        trace=_trace(r),
        paused_until=r["paused_until"],
    )


def execution_values(execution: Execution) -> dict[str, Any]:
    e = execution
    return {
        "id": e.id,
        "platform_id": e.platform_id,
        "job_id": e.job_id,
        "event_handler_id": e.event_handler_id,
        "trigger": e.trigger.value,
        "status": e.status.value,
        "handler_name": e.handler_name,
        "payload": e.payload,
        "priority": int(e.priority),
        "scheduled_at": e.scheduled_at,
        "due_at": e.due_at,
        "started_at": e.started_at,
        "completed_at": e.completed_at,
        "duration_ms": e.duration_ms,
        "result": e.result,
        "error": e.error,
        "error_stack": e.error_stack,
        "attempt": e.attempt,
        "retry_count": e.retry_count,
        "max_retries": e.max_retries,
        "retry_delay_ms": _ms(e.retry_delay),
        "timeout_ms": _ms(e.timeout),
        "next_retry_at": e.next_retry_at,
        "worker_id": e.worker_id,
        "trace_id": e.trace_id,
        "span_id": e.span_id,
        "parent_span_id": e.parent_span_id,
        "created_at": e.created_at,
        **_trace_values(e.trace),
        "waiting_for": list(e.waiting_for) or None,
        "wait_deadline": e.wait_deadline,
        **_keys_values(e.keys),
    }


def execution_from_row(row: Row[Any]) -> Execution:
    r = row._mapping  # by key: a fraction of the cost of attribute access
    return Execution(
        id=r["id"],
        platform_id=r["platform_id"],
        job_id=r["job_id"],
        event_handler_id=r["event_handler_id"],
        trigger=ExecutionTrigger(r["trigger"]),
        status=ExecutionStatus(r["status"]),
        handler_name=r["handler_name"],
        payload=r["payload"],
        priority=Priority(r["priority"]),
        scheduled_at=r["scheduled_at"],
        due_at=r["due_at"],
        max_retries=r["max_retries"],
        retry_delay=timedelta(milliseconds=r["retry_delay_ms"]),
        timeout=timedelta(milliseconds=r["timeout_ms"]),
        created_at=r["created_at"],
        attempt=r["attempt"],
        retry_count=r["retry_count"],
        started_at=r["started_at"],
        completed_at=r["completed_at"],
        duration_ms=r["duration_ms"],
        result=r["result"],
        error=r["error"],
        error_stack=r["error_stack"],
        next_retry_at=r["next_retry_at"],
        worker_id=r["worker_id"],
        trace_id=r["trace_id"],
        span_id=r["span_id"],
        parent_span_id=r["parent_span_id"],
        trace=_trace(r),
        waiting_for=tuple(r["waiting_for"] or ()),
        wait_deadline=r["wait_deadline"],
        keys=keys_from_row(r),
        lease_expires_at=r["lease_expires_at"],
    )


def log_from_row(row: Row[Any]) -> ExecutionLog:
    return ExecutionLog(
        execution_id=row.execution_id,
        time=row.timestamp,
        level=LogLevel(row.level),
        message=row.message,
        attempt=row.attempt,
        id=row.id,
    )
