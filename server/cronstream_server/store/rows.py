"""Rows <-> domain objects for jobs and executions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Row

from cronstream_server.core.enums import (
    ExecutionStatus,
    ExecutionTrigger,
    HandlerType,
    JobStatus,
    LogLevel,
    MisfirePolicy,
    OverlapPolicy,
    Priority,
)
from cronstream_server.core.executions import Execution, ExecutionLog
from cronstream_server.core.jobs import Job, JobSpec
from cronstream_server.core.tracing import TraceContext
from cronstream_server.core.triggers import (
    CronTrigger,
    EventTrigger,
    IntervalTrigger,
    OnceTrigger,
    Trigger,
)


def _trace_values(trace: TraceContext | None) -> dict[str, str | None]:
    if trace is None:
        return {"traceparent": None, "tracestate": None}
    return {"traceparent": trace.traceparent, "tracestate": trace.tracestate or None}


def _trace(row: Row[Any]) -> TraceContext | None:
    return TraceContext(row.traceparent, row.tracestate or "") if row.traceparent else None


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


def trigger_from_row(row: Row[Any]) -> Trigger:
    if row.type == "cron":
        return CronTrigger(row.schedule, row.timezone or "UTC")
    if row.type == "one_time":
        return OnceTrigger(row.run_at)
    if row.type == "recurring":
        return IntervalTrigger(
            every=timedelta(milliseconds=row.interval_ms),
            start_at=row.start_at,
            end_at=row.end_at,
            max_runs=row.max_runs,
        )
    return EventTrigger(row.event_name)


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
        "runs_count": job.runs_count,
        "tags": list(spec.tags),
        "metadata": dict(spec.metadata),
        "created_by": job.created_by,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "completed_at": job.completed_at,
        "cancelled_at": job.cancelled_at,
        **_trace_values(job.trace),
    }


def job_from_row(row: Row[Any]) -> Job:
    spec = JobSpec(
        name=row.name,
        handler_name=row.handler_name,
        trigger=trigger_from_row(row),
        handler_type=HandlerType(row.handler_type),
        payload=row.payload,
        max_retries=row.max_retries,
        retry_delay=timedelta(milliseconds=row.retry_delay_ms),
        timeout=timedelta(milliseconds=row.timeout_ms),
        priority=Priority(row.priority),
        tags=tuple(row.tags),
        metadata=dict(row.metadata),
        overlap_policy=OverlapPolicy(row.overlap_policy),
        misfire_policy=MisfirePolicy(row.misfire_policy),
        catchup_window=timedelta(milliseconds=row.catchup_window_ms),
        jitter=timedelta(milliseconds=row.jitter_ms),
    )
    return Job(
        id=row.id,
        platform_id=row.platform_id,
        spec=spec,
        status=JobStatus(row.status),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        next_run=row.next_run,
        last_run=row.last_run,
        runs_count=row.runs_count,
        executions_count=row.executions_count,
        success_count=row.success_count,
        failure_count=row.failure_count,
        avg_duration_ms=row.avg_duration_ms,
        completed_at=row.completed_at,
        cancelled_at=row.cancelled_at,
        trace=_trace(row),
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
    }


def execution_from_row(row: Row[Any]) -> Execution:
    return Execution(
        id=row.id,
        platform_id=row.platform_id,
        job_id=row.job_id,
        event_handler_id=row.event_handler_id,
        trigger=ExecutionTrigger(row.trigger),
        status=ExecutionStatus(row.status),
        handler_name=row.handler_name,
        payload=row.payload,
        priority=Priority(row.priority),
        scheduled_at=row.scheduled_at,
        due_at=row.due_at,
        max_retries=row.max_retries,
        retry_delay=timedelta(milliseconds=row.retry_delay_ms),
        timeout=timedelta(milliseconds=row.timeout_ms),
        created_at=row.created_at,
        attempt=row.attempt,
        retry_count=row.retry_count,
        started_at=row.started_at,
        completed_at=row.completed_at,
        duration_ms=row.duration_ms,
        result=row.result,
        error=row.error,
        error_stack=row.error_stack,
        next_retry_at=row.next_retry_at,
        worker_id=row.worker_id,
        trace_id=row.trace_id,
        span_id=row.span_id,
        parent_span_id=row.parent_span_id,
        trace=_trace(row),
    )


def log_from_row(row: Row[Any]) -> ExecutionLog:
    return ExecutionLog(
        execution_id=row.execution_id,
        time=row.timestamp,
        level=LogLevel(row.level),
        message=row.message,
        attempt=row.attempt,
    )
