"""What the `Client` returns: frozen dataclasses with Python types.

Enums are `IntEnum`s named as the proto values without their prefix
(`JobStatus.ACTIVE` for `JOB_STATUS_ACTIVE`); they print by name and still
compare equal to the generated values (`JobStatus.ACTIVE == job_pb2.JOB_STATUS_ACTIVE`).
Timestamps are aware UTC datetimes, durations `timedelta`s, payloads and
results dicts; a field the server left unset is None. Each object keeps the
message it was read from as `.proto`, for anything not covered here.

The proto -> Python conversion of results lives here, in one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self

from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import Message

from cronstream._convert import to_datetime, to_dict
from cronstream.v1 import event_pb2, execution_pb2, insight_pb2, job_pb2

__all__ = [
    "ComponentHealth",
    "CronTrigger",
    "EventHandler",
    "EventTrigger",
    "Execution",
    "ExecutionStatus",
    "ExecutionTrigger",
    "HandlerType",
    "Health",
    "HealthStatus",
    "IntervalTrigger",
    "Job",
    "JobStats",
    "JobStatus",
    "JobType",
    "LogLevel",
    "LogLine",
    "Metrics",
    "MisfirePolicy",
    "OnceTrigger",
    "OverlapPolicy",
    "Priority",
    "Trigger",
]


class _ProtoEnum(enum.IntEnum):
    """An IntEnum that prints as `JobStatus.ACTIVE` (IntEnum prints `2`)."""

    __str__ = enum.Enum.__str__
    __format__ = enum.Enum.__format__

    @classmethod
    def of(cls, value: int) -> Self:
        """The member for `value`; UNSPECIFIED for a number this client does
        not know (a newer server's)."""
        try:
            return cls(value)
        except ValueError:
            return cls(0)


class JobStatus(_ProtoEnum):
    UNSPECIFIED = 0
    PENDING = 1
    ACTIVE = 2
    PAUSED = 3
    COMPLETED = 4
    FAILED = 5
    CANCELLED = 6


class JobType(_ProtoEnum):
    UNSPECIFIED = 0
    CRON = 1
    ONE_TIME = 2
    RECURRING = 3
    EVENT = 4


class HandlerType(_ProtoEnum):
    UNSPECIFIED = 0
    FUNCTION = 1
    AGENT = 2
    WORKFLOW = 3


class Priority(_ProtoEnum):
    UNSPECIFIED = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class OverlapPolicy(_ProtoEnum):
    UNSPECIFIED = 0
    ALLOW = 1
    SKIP = 2
    BUFFER_ONE = 3
    CANCEL_PREVIOUS = 4


class MisfirePolicy(_ProtoEnum):
    UNSPECIFIED = 0
    RUN_ONCE = 1
    RUN_ALL = 2
    SKIP = 3


class ExecutionStatus(_ProtoEnum):
    UNSPECIFIED = 0
    PENDING = 1
    RUNNING = 2
    SUCCESS = 3
    FAILED = 4
    TIMEOUT = 5
    CANCELLED = 6
    SKIPPED = 7


class ExecutionTrigger(_ProtoEnum):
    UNSPECIFIED = 0
    SCHEDULE = 1
    MANUAL = 2
    EVENT = 3


class LogLevel(_ProtoEnum):
    UNSPECIFIED = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


class HealthStatus(_ProtoEnum):
    UNSPECIFIED = 0
    SERVING = 1
    DEGRADED = 2
    NOT_SERVING = 3


# Each Python enum and the generated enum (and prefix) it mirrors; a unit test
# checks they agree, name for name.
MIRRORS: tuple[tuple[type[_ProtoEnum], Any, str], ...] = (
    (JobStatus, job_pb2.JobStatus, "JOB_STATUS_"),
    (JobType, job_pb2.JobType, "JOB_TYPE_"),
    (HandlerType, job_pb2.HandlerType, "HANDLER_TYPE_"),
    (Priority, job_pb2.Priority, "PRIORITY_"),
    (OverlapPolicy, job_pb2.OverlapPolicy, "OVERLAP_POLICY_"),
    (MisfirePolicy, job_pb2.MisfirePolicy, "MISFIRE_POLICY_"),
    (ExecutionStatus, execution_pb2.ExecutionStatus, "EXECUTION_STATUS_"),
    (ExecutionTrigger, execution_pb2.ExecutionTrigger, "EXECUTION_TRIGGER_"),
    (LogLevel, execution_pb2.LogLevel, "LOG_LEVEL_"),
    (HealthStatus, insight_pb2.HealthStatus, "HEALTH_STATUS_"),
)


def _time(message: Message, name: str) -> datetime | None:
    if not message.HasField(name):
        return None
    value: timestamp_pb2.Timestamp = getattr(message, name)
    return to_datetime(value)


def _duration(message: Message, name: str) -> timedelta | None:
    if not message.HasField(name):
        return None
    value: duration_pb2.Duration = getattr(message, name)
    return value.ToTimedelta()


def _optional(message: Message, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


# --- jobs -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CronTrigger:
    expression: str
    timezone: str


@dataclass(frozen=True, slots=True)
class OnceTrigger:
    run_at: datetime | None


@dataclass(frozen=True, slots=True)
class IntervalTrigger:
    every: timedelta | None
    start_at: datetime | None
    end_at: datetime | None
    #: 0 for no limit.
    max_runs: int


@dataclass(frozen=True, slots=True)
class EventTrigger:
    event_name: str


Trigger = CronTrigger | OnceTrigger | IntervalTrigger | EventTrigger


def _trigger(job: job_pb2.Job) -> Trigger | None:
    kind = job.WhichOneof("trigger")
    if kind == "cron":
        return CronTrigger(job.cron.expression, job.cron.timezone)
    if kind == "once":
        return OnceTrigger(_time(job.once, "run_at"))
    if kind == "interval":
        i = job.interval
        return IntervalTrigger(
            _duration(i, "every"), _time(i, "start_at"), _time(i, "end_at"), i.max_runs
        )
    if kind == "event":
        return EventTrigger(job.event.event_name)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    id: str
    name: str
    handler_name: str
    handler_type: HandlerType
    trigger: Trigger | None
    payload: dict[str, Any]
    status: JobStatus
    type: JobType
    next_run: datetime | None
    last_run: datetime | None
    #: None when the job uses the server's default.
    max_retries: int | None
    retry_delay: timedelta | None
    timeout: timedelta | None
    priority: Priority
    tags: tuple[str, ...]
    metadata: dict[str, str]
    overlap_policy: OverlapPolicy
    misfire_policy: MisfirePolicy
    catchup_window: timedelta | None
    jitter: timedelta | None
    executions_count: int
    success_count: int
    failure_count: int
    avg_duration: timedelta | None
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    platform_id: str
    proto: job_pb2.Job = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: job_pb2.Job) -> Job:
        return cls(
            id=m.id,
            name=m.name,
            handler_name=m.handler_name,
            handler_type=HandlerType.of(m.handler_type),
            trigger=_trigger(m),
            payload=to_dict(m.payload),
            status=JobStatus.of(m.status),
            type=JobType.of(m.type),
            next_run=_time(m, "next_run"),
            last_run=_time(m, "last_run"),
            max_retries=_optional(m, "max_retries"),
            retry_delay=_duration(m, "retry_delay"),
            timeout=_duration(m, "timeout"),
            priority=Priority.of(m.priority),
            tags=tuple(m.tags),
            metadata=dict(m.metadata),
            overlap_policy=OverlapPolicy.of(m.overlap_policy),
            misfire_policy=MisfirePolicy.of(m.misfire_policy),
            catchup_window=_duration(m, "catchup_window"),
            jitter=_duration(m, "jitter"),
            executions_count=m.executions_count,
            success_count=m.success_count,
            failure_count=m.failure_count,
            avg_duration=_duration(m, "avg_duration"),
            created_by=m.created_by,
            created_at=_time(m, "created_at"),
            updated_at=_time(m, "updated_at"),
            completed_at=_time(m, "completed_at"),
            cancelled_at=_time(m, "cancelled_at"),
            platform_id=m.platform_id,
            proto=m,
        )


# --- executions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Execution:
    id: str
    #: Empty for an event handler's execution (see `event_handler_id`).
    job_id: str
    event_handler_id: str
    handler_name: str
    status: ExecutionStatus
    trigger: ExecutionTrigger
    attempt: int
    retry_count: int
    max_retries: int
    payload: dict[str, Any]
    #: What the handler returned; None until it succeeds.
    result: dict[str, Any] | None
    error: str
    error_stack: str
    scheduled_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    duration: timedelta | None
    next_retry_at: datetime | None
    created_at: datetime | None
    worker_id: str
    trace_id: str
    span_id: str
    proto: execution_pb2.Execution = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: execution_pb2.Execution) -> Execution:
        return cls(
            id=m.id,
            job_id=m.job_id,
            event_handler_id=m.event_handler_id,
            handler_name=m.handler_name,
            status=ExecutionStatus.of(m.status),
            trigger=ExecutionTrigger.of(m.trigger),
            attempt=m.attempt,
            retry_count=m.retry_count,
            max_retries=m.max_retries,
            payload=to_dict(m.payload),
            result=to_dict(m.result) if m.HasField("result") else None,
            error=m.error,
            error_stack=m.error_stack,
            scheduled_at=_time(m, "scheduled_at"),
            started_at=_time(m, "started_at"),
            completed_at=_time(m, "completed_at"),
            duration=_duration(m, "duration"),
            next_retry_at=_time(m, "next_retry_at"),
            created_at=_time(m, "created_at"),
            worker_id=m.worker_id,
            trace_id=m.trace_id,
            span_id=m.span_id,
            proto=m,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LogLine:
    execution_id: str
    attempt: int
    time: datetime | None
    level: LogLevel
    message: str
    proto: execution_pb2.ExecutionLog = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: execution_pb2.ExecutionLog) -> LogLine:
        return cls(
            execution_id=m.execution_id,
            attempt=m.attempt,
            time=_time(m, "time"),
            level=LogLevel.of(m.level),
            message=m.message,
            proto=m,
        )


# --- event handlers -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EventHandler:
    id: str
    event_name: str
    handler_name: str
    handler_type: HandlerType
    payload: dict[str, Any]
    enabled: bool | None
    priority: Priority
    max_retries: int | None
    retry_delay: timedelta | None
    timeout: timedelta | None
    platform_id: str
    created_at: datetime | None
    updated_at: datetime | None
    proto: event_pb2.EventHandler = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: event_pb2.EventHandler) -> EventHandler:
        return cls(
            id=m.id,
            event_name=m.event_name,
            handler_name=m.handler_name,
            handler_type=HandlerType.of(m.handler_type),
            payload=to_dict(m.payload),
            enabled=_optional(m, "enabled"),
            priority=Priority.of(m.priority),
            max_retries=_optional(m, "max_retries"),
            retry_delay=_duration(m, "retry_delay"),
            timeout=_duration(m, "timeout"),
            platform_id=m.platform_id,
            created_at=_time(m, "created_at"),
            updated_at=_time(m, "updated_at"),
            proto=m,
        )


# --- insight --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class JobStats:
    job_id: str
    executions_by_status: dict[ExecutionStatus, int]
    total_executions: int
    success_rate: float
    avg_duration: timedelta | None
    p95_duration: timedelta | None
    last_run: datetime | None
    next_run: datetime | None
    proto: insight_pb2.JobStats = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: insight_pb2.JobStats) -> JobStats:
        return cls(
            job_id=m.job_id,
            executions_by_status={
                ExecutionStatus.of(c.status): c.count for c in m.executions_by_status
            },
            total_executions=m.total_executions,
            success_rate=m.success_rate,
            avg_duration=_duration(m, "avg_duration"),
            p95_duration=_duration(m, "p95_duration"),
            last_run=_time(m, "last_run"),
            next_run=_time(m, "next_run"),
            proto=m,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    jobs_by_status: dict[JobStatus, int]
    jobs_by_type: dict[JobType, int]
    executions_by_status: dict[ExecutionStatus, int]
    queue_depth: int
    connected_workers: int
    proto: insight_pb2.SchedulerMetrics = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: insight_pb2.SchedulerMetrics) -> Metrics:
        return cls(
            jobs_by_status={JobStatus.of(c.status): c.count for c in m.jobs_by_status},
            jobs_by_type={JobType.of(c.type): c.count for c in m.jobs_by_type},
            executions_by_status={
                ExecutionStatus.of(c.status): c.count for c in m.executions_by_status
            },
            queue_depth=m.queue_depth,
            connected_workers=m.connected_workers,
            proto=m,
        )


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    name: str
    status: HealthStatus
    message: str
    latency: timedelta | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    status: HealthStatus
    components: tuple[ComponentHealth, ...]
    proto: insight_pb2.Health = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: insight_pb2.Health) -> Health:
        components = tuple(
            ComponentHealth(c.name, HealthStatus.of(c.status), c.message, _duration(c, "latency"))
            for c in m.components
        )
        return cls(status=HealthStatus.of(m.status), components=components, proto=m)
