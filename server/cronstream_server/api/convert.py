"""Protobuf <-> domain, for jobs, executions, logs and triggers.

Reading a request collects a violation for every field it cannot convert
(a timestamp out of range, an unknown enum number) so that the caller hears
about all of them at once, with the request path of each.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from cronstream.v1 import event_pb2, execution_pb2, job_pb2
from google.protobuf import duration_pb2, json_format, struct_pb2, timestamp_pb2

from cronstream_server.api.convert_common import duration_from_ms, timestamp
from cronstream_server.api.nesting import MAX_JSON_DEPTH, TOO_DEEP, json_depth
from cronstream_server.core import jobs as job_rules
from cronstream_server.core.enums import (
    ExecutionStatus,
    ExecutionTrigger,
    HandlerType,
    HealthState,
    JobStatus,
    JobType,
    LogLevel,
    MisfirePolicy,
    OverlapPolicy,
    Priority,
)
from cronstream_server.core.errors import FieldViolation
from cronstream_server.core.executions import Execution, ExecutionLog
from cronstream_server.core.health import HealthPolicy, JobHealth
from cronstream_server.core.jobs import Job, JobSpec, RawTrigger
from cronstream_server.core.limits import ConcurrencyLimit
from cronstream_server.core.triggers import (
    CronTrigger,
    EventTrigger,
    IntervalTrigger,
    OnceTrigger,
    Trigger,
)
from cronstream_server.core.validation import check_name

E = TypeVar("E")

JOB_STATUS = {
    JobStatus.PENDING: job_pb2.JOB_STATUS_PENDING,
    JobStatus.ACTIVE: job_pb2.JOB_STATUS_ACTIVE,
    JobStatus.PAUSED: job_pb2.JOB_STATUS_PAUSED,
    JobStatus.COMPLETED: job_pb2.JOB_STATUS_COMPLETED,
    JobStatus.FAILED: job_pb2.JOB_STATUS_FAILED,
    JobStatus.CANCELLED: job_pb2.JOB_STATUS_CANCELLED,
}
JOB_TYPE = {
    JobType.CRON: job_pb2.JOB_TYPE_CRON,
    JobType.ONE_TIME: job_pb2.JOB_TYPE_ONE_TIME,
    JobType.RECURRING: job_pb2.JOB_TYPE_RECURRING,
    JobType.EVENT: job_pb2.JOB_TYPE_EVENT,
}
HANDLER_TYPE = {
    HandlerType.FUNCTION: job_pb2.HANDLER_TYPE_FUNCTION,
    HandlerType.AGENT: job_pb2.HANDLER_TYPE_AGENT,
    HandlerType.WORKFLOW: job_pb2.HANDLER_TYPE_WORKFLOW,
}
PRIORITY = {
    Priority.LOW: job_pb2.PRIORITY_LOW,
    Priority.MEDIUM: job_pb2.PRIORITY_MEDIUM,
    Priority.HIGH: job_pb2.PRIORITY_HIGH,
    Priority.CRITICAL: job_pb2.PRIORITY_CRITICAL,
}
OVERLAP = {
    OverlapPolicy.ALLOW: job_pb2.OVERLAP_POLICY_ALLOW,
    OverlapPolicy.SKIP: job_pb2.OVERLAP_POLICY_SKIP,
    OverlapPolicy.BUFFER_ONE: job_pb2.OVERLAP_POLICY_BUFFER_ONE,
    OverlapPolicy.CANCEL_PREVIOUS: job_pb2.OVERLAP_POLICY_CANCEL_PREVIOUS,
}
MISFIRE = {
    MisfirePolicy.RUN_ONCE: job_pb2.MISFIRE_POLICY_RUN_ONCE,
    MisfirePolicy.RUN_ALL: job_pb2.MISFIRE_POLICY_RUN_ALL,
    MisfirePolicy.SKIP: job_pb2.MISFIRE_POLICY_SKIP,
}
HEALTH_STATE = {
    HealthState.HEALTHY: job_pb2.HEALTH_STATE_HEALTHY,
    HealthState.LATE: job_pb2.HEALTH_STATE_LATE,
    HealthState.MISSED: job_pb2.HEALTH_STATE_MISSED,
    HealthState.OVERRUNNING: job_pb2.HEALTH_STATE_OVERRUNNING,
    HealthState.FAILING: job_pb2.HEALTH_STATE_FAILING,
}
EXECUTION_STATUS = {
    ExecutionStatus.PENDING: execution_pb2.EXECUTION_STATUS_PENDING,
    ExecutionStatus.RUNNING: execution_pb2.EXECUTION_STATUS_RUNNING,
    ExecutionStatus.SUCCESS: execution_pb2.EXECUTION_STATUS_SUCCESS,
    ExecutionStatus.FAILED: execution_pb2.EXECUTION_STATUS_FAILED,
    ExecutionStatus.TIMEOUT: execution_pb2.EXECUTION_STATUS_TIMEOUT,
    ExecutionStatus.CANCELLED: execution_pb2.EXECUTION_STATUS_CANCELLED,
    ExecutionStatus.SKIPPED: execution_pb2.EXECUTION_STATUS_SKIPPED,
    ExecutionStatus.WAITING: execution_pb2.EXECUTION_STATUS_WAITING,
}
EXECUTION_TRIGGER = {
    ExecutionTrigger.SCHEDULE: execution_pb2.EXECUTION_TRIGGER_SCHEDULE,
    ExecutionTrigger.MANUAL: execution_pb2.EXECUTION_TRIGGER_MANUAL,
    ExecutionTrigger.EVENT: execution_pb2.EXECUTION_TRIGGER_EVENT,
    ExecutionTrigger.BACKFILL: execution_pb2.EXECUTION_TRIGGER_BACKFILL,
}
LOG_LEVEL = {
    LogLevel.DEBUG: execution_pb2.LOG_LEVEL_DEBUG,
    LogLevel.INFO: execution_pb2.LOG_LEVEL_INFO,
    LogLevel.WARN: execution_pb2.LOG_LEVEL_WARN,
    LogLevel.ERROR: execution_pb2.LOG_LEVEL_ERROR,
}

# Protobuf's Timestamp range, which Python's datetime also covers.
_MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
_MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
_MAX_DURATION_SECONDS = 315_576_000_000


class Reader:
    """Converts request fields, collecting a violation per bad field."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def bad(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def time(self, field: str, message: timestamp_pb2.Timestamp) -> datetime | None:
        if not _MIN_SECONDS <= message.seconds <= _MAX_SECONDS or not (
            0 <= message.nanos < 1_000_000_000
        ):
            self.bad(field, "is not a valid timestamp (years 1 to 9999)")
            return None
        return message.ToDatetime(tzinfo=UTC)

    def duration(self, field: str, message: duration_pb2.Duration) -> timedelta | None:
        if abs(message.seconds) > _MAX_DURATION_SECONDS or abs(message.nanos) >= 1_000_000_000:
            self.bad(field, "is not a valid duration")
            return None
        return message.ToTimedelta()

    def enum(self, field: str, value: int, table: Mapping[E, int], default: E) -> E:
        """The domain value of a protobuf enum number; 0 (unspecified) is `default`."""
        if value == 0:
            return default
        for domain, number in table.items():
            if number == value:
                return domain
        self.bad(field, f"{value} is not a known value")
        return default

    def enums(self, field: str, values: Any, table: Mapping[E, int]) -> tuple[E, ...]:
        """A repeated enum filter: every number must be a known, specified value."""
        by_number = {number: domain for domain, number in table.items()}
        found: list[E] = []
        for index, value in enumerate(values):
            if value in by_number:
                found.append(by_number[value])
            else:
                self.bad(f"{field}[{index}]", f"{value} is not a known value")
        return tuple(found)

    def struct(self, field: str, message: struct_pb2.Struct, max_bytes: int) -> dict[str, Any]:
        size = message.ByteSize()
        if size > max_bytes:
            self.bad(field, f"is {size} bytes; at most {max_bytes}")
            return {}
        if not size:
            # Absent or empty, as most results are: what the conversion and
            # checks below would come to, without their cost (twice the parse).
            return {}
        try:
            converted: dict[str, Any] = json_format.MessageToDict(message)
        except ValueError:  # NaN or an infinity: JSON has no such number
            self.bad(field, "numbers must be finite (JSON has no NaN or Infinity)")
            return {}
        if json_depth(converted) > MAX_JSON_DEPTH:
            # Deeper values do not decode at all (see api.decoding): refuse
            # alike the ones that still do, which clients could not read back.
            self.bad(field, TOO_DEEP)
            return {}
        if _holds_nul(converted):
            # Postgres' jsonb cannot store U+0000; refuse it everywhere alike.
            self.bad(field, "must not contain the NUL character (U+0000)")
            return {}
        return converted

    def filter_text(self, field: str, value: str) -> str:
        """A free-text filter: any text a stored name could hold."""
        check_name(self.violations, field, value, required=False)
        return value


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


# --- jobs -------------------------------------------------------------------


def raw_trigger(reader: Reader, job: job_pb2.Job, prefix: str) -> RawTrigger | None:
    match job.WhichOneof("trigger"):
        case "cron":
            return job_rules.RawCron(job.cron.expression, job.cron.timezone)
        case "once":
            run_at = job.once.run_at if job.once.HasField("run_at") else None
            return job_rules.RawOnce(
                reader.time(f"{prefix}.once.run_at", run_at) if run_at is not None else None
            )
        case "interval":
            return _raw_interval(reader, job.interval, f"{prefix}.interval")
        case "event":
            return job_rules.RawEvent(job.event.event_name)
    return None


def _raw_interval(
    reader: Reader, interval: job_pb2.IntervalTrigger, prefix: str
) -> job_rules.RawInterval:
    every = reader.duration(f"{prefix}.every", interval.every) or timedelta(0)
    start_at = end_at = None
    if interval.HasField("start_at"):
        start_at = reader.time(f"{prefix}.start_at", interval.start_at)
    if interval.HasField("end_at"):
        end_at = reader.time(f"{prefix}.end_at", interval.end_at)
    return job_rules.RawInterval(every, start_at, end_at, interval.max_runs)


def trigger_for_job(reader: Reader, job: job_pb2.Job, prefix: str, now: datetime) -> Trigger | None:
    """The job's trigger, checked; None with violations recorded when it is bad.

    A request with unconvertible trigger fields is reported without checking
    the trigger's rules on made-up values."""
    before = len(reader.violations)
    raw = raw_trigger(reader, job, prefix)
    if len(reader.violations) > before:
        return None
    return job_rules.build_trigger(raw, now, prefix, reader.violations)


def job_spec(
    reader: Reader,
    job: job_pb2.Job,
    prefix: str,
    trigger: Trigger | None,
    max_payload_bytes: int,
) -> JobSpec:
    """Every user-settable field of `job`, defaults filled in."""
    return JobSpec(
        name=job.name,
        handler_name=job.handler_name,
        trigger=trigger,
        handler_type=reader.enum(
            f"{prefix}.handler_type", job.handler_type, HANDLER_TYPE, HandlerType.FUNCTION
        ),
        payload=reader.struct(f"{prefix}.payload", job.payload, max_payload_bytes)
        if job.HasField("payload")
        else None,
        max_retries=job.max_retries
        if job.HasField("max_retries")
        else job_rules.DEFAULT_MAX_RETRIES,
        retry_delay=_duration_or(reader, job, "retry_delay", prefix, job_rules.DEFAULT_RETRY_DELAY),
        timeout=_duration_or(reader, job, "timeout", prefix, job_rules.DEFAULT_TIMEOUT),
        priority=reader.enum(f"{prefix}.priority", job.priority, PRIORITY, Priority.MEDIUM),
        tags=tuple(job.tags),
        metadata=dict(job.metadata),
        overlap_policy=reader.enum(
            f"{prefix}.overlap_policy", job.overlap_policy, OVERLAP, OverlapPolicy.ALLOW
        ),
        misfire_policy=reader.enum(
            f"{prefix}.misfire_policy", job.misfire_policy, MISFIRE, MisfirePolicy.RUN_ONCE
        ),
        catchup_window=_duration_or(
            reader, job, "catchup_window", prefix, job_rules.DEFAULT_CATCHUP_WINDOW
        ),
        jitter=_duration_or(reader, job, "jitter", prefix, timedelta(0)),
        health_policy=health_policy(reader, job.health_policy, f"{prefix}.health_policy")
        if job.HasField("health_policy")
        else HealthPolicy(),
        depends_on=tuple(job.depends_on),
        max_wait=_duration_or(reader, job, "max_wait", prefix, job_rules.DEFAULT_MAX_WAIT),
        concurrency=concurrency(job),
        rate_limit_key=job.rate_limit_key,
    )


def concurrency(message: job_pb2.Job | event_pb2.EventHandler) -> ConcurrencyLimit | None:
    """The message's concurrency limit; absent: none (its rules are checked
    with the rest of the spec)."""
    if not message.HasField("concurrency"):
        return None
    return ConcurrencyLimit(message.concurrency.key, message.concurrency.limit)


def concurrency_message(value: ConcurrencyLimit | None) -> job_pb2.ConcurrencyLimit | None:
    return None if value is None else job_pb2.ConcurrencyLimit(key=value.key, limit=value.limit)


def health_policy(reader: Reader, message: job_pb2.HealthPolicy, prefix: str) -> HealthPolicy:
    """The fields the message sets; the others keep their defaults (None)."""

    def duration(name: str) -> timedelta | None:
        if not message.HasField(name):  # type: ignore[arg-type]
            return None
        return reader.duration(f"{prefix}.{name}", getattr(message, name))

    return HealthPolicy(
        max_start_delay=duration("max_start_delay"),
        max_duration=duration("max_duration"),
        consecutive_failures=message.consecutive_failures
        if message.HasField("consecutive_failures")
        else None,
        alert_on_missed=message.alert_on_missed if message.HasField("alert_on_missed") else None,
        pause_on_failure=message.pause_on_failure if message.HasField("pause_on_failure") else None,
    )


def job_health_message(health: JobHealth) -> job_pb2.JobHealth:
    message = job_pb2.JobHealth(state=HEALTH_STATE[health.state], reason=health.reason)
    if health.since is not None:
        message.since.FromDatetime(health.since)
    return message


def health_policy_message(policy: HealthPolicy) -> job_pb2.HealthPolicy:
    message = job_pb2.HealthPolicy(
        consecutive_failures=policy.consecutive_failures,
        alert_on_missed=policy.alert_on_missed,
        pause_on_failure=policy.pause_on_failure,
    )
    if policy.max_start_delay is not None:
        message.max_start_delay.FromTimedelta(policy.max_start_delay)
    if policy.max_duration is not None:
        message.max_duration.FromTimedelta(policy.max_duration)
    return message


def _duration_or(
    reader: Reader, job: job_pb2.Job, name: str, prefix: str, default: timedelta
) -> timedelta:
    if not job.HasField(name):  # type: ignore[arg-type]
        return default
    value = reader.duration(f"{prefix}.{name}", getattr(job, name))
    return default if value is None else value


def trigger_message(trigger: Trigger | None, message: job_pb2.Job) -> None:
    match trigger:
        case CronTrigger():
            message.cron.expression = trigger.expression
            message.cron.timezone = trigger.timezone
        case OnceTrigger():
            message.once.run_at.FromDatetime(trigger.run_at)
        case IntervalTrigger():
            message.interval.every.FromTimedelta(trigger.every)
            message.interval.start_at.FromDatetime(trigger.start_at)
            if trigger.end_at is not None:
                message.interval.end_at.FromDatetime(trigger.end_at)
            message.interval.max_runs = trigger.max_runs or 0
        case EventTrigger():
            message.event.event_name = trigger.event_name


def job_message(job: Job) -> job_pb2.Job:
    spec = job.spec
    message = job_pb2.Job(
        id=job.id,
        name=spec.name,
        handler_name=spec.handler_name,
        handler_type=HANDLER_TYPE[spec.handler_type],
        status=JOB_STATUS[job.status],
        type=JOB_TYPE[spec.type],
        next_run=timestamp(job.next_run),
        last_run=timestamp(job.last_run),
        max_retries=spec.max_retries,
        priority=PRIORITY[spec.priority],
        tags=list(spec.tags),
        metadata=spec.metadata,
        overlap_policy=OVERLAP[spec.overlap_policy],
        misfire_policy=MISFIRE[spec.misfire_policy],
        executions_count=job.executions_count,
        success_count=job.success_count,
        failure_count=job.failure_count,
        avg_duration=duration_from_ms(job.avg_duration_ms),
        created_by=job.created_by,
        created_at=timestamp(job.created_at),
        updated_at=timestamp(job.updated_at),
        completed_at=timestamp(job.completed_at),
        cancelled_at=timestamp(job.cancelled_at),
        platform_id=job.platform_id,
        depends_on=list(spec.depends_on),
        paused_until=timestamp(job.paused_until),
        concurrency=concurrency_message(spec.concurrency),
        rate_limit_key=spec.rate_limit_key,
    )
    message.retry_delay.FromTimedelta(spec.retry_delay)
    message.timeout.FromTimedelta(spec.timeout)
    message.catchup_window.FromTimedelta(spec.catchup_window)
    message.jitter.FromTimedelta(spec.jitter)
    message.max_wait.FromTimedelta(spec.max_wait)
    message.health_policy.CopyFrom(health_policy_message(spec.health_policy))
    message.health.CopyFrom(job_health_message(job.health))
    if spec.payload is not None:
        message.payload.update(spec.payload)
    trigger_message(spec.trigger, message)
    return message


# --- executions -------------------------------------------------------------


def execution_message(execution: Execution) -> execution_pb2.Execution:
    e = execution
    message = execution_pb2.Execution(
        id=e.id,
        job_id=e.job_id or "",
        status=EXECUTION_STATUS[e.status],
        scheduled_at=timestamp(e.scheduled_at),
        started_at=timestamp(e.started_at),
        completed_at=timestamp(e.completed_at),
        duration=duration_from_ms(e.duration_ms),
        error=e.error or "",
        error_stack=e.error_stack or "",
        retry_count=e.retry_count,
        max_retries=e.max_retries,
        next_retry_at=timestamp(e.next_retry_at),
        worker_id=e.worker_id or "",
        trace_id=e.trace_id or "",
        span_id=e.span_id or "",
        parent_span_id=e.parent_span_id or "",
        created_at=timestamp(e.created_at),
        attempt=e.attempt,
        handler_name=e.handler_name,
        event_handler_id=e.event_handler_id or "",
        trigger=EXECUTION_TRIGGER[e.trigger],
        concurrency_key=e.keys.concurrency_key or "",
        rate_limit_key=e.keys.rate_limit_key or "",
        due_at=timestamp(e.due_at),
    )
    if e.status is ExecutionStatus.WAITING:  # output only while it waits
        message.waiting_for.extend(e.waiting_for)
        if e.wait_deadline is not None:
            message.wait_deadline.FromDatetime(e.wait_deadline)
    if e.status is ExecutionStatus.RUNNING and e.lease_expires_at is not None:
        # Only while it runs: a cancel or settle may leave the column behind.
        message.lease_expires_at.FromDatetime(e.lease_expires_at.astimezone(UTC))
    if e.result is not None:
        message.result.update(e.result)
    if e.payload is not None:
        message.payload.update(e.payload)
    return message


def log_message(log: ExecutionLog) -> execution_pb2.ExecutionLog:
    return execution_pb2.ExecutionLog(
        execution_id=log.execution_id,
        time=timestamp(log.time),
        level=LOG_LEVEL[log.level],
        message=log.message,
        attempt=log.attempt,
        sequence=log.id or 0,
    )
