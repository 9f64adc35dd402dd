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

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.message import Message

from cronstream._convert import optional_datetime, optional_timedelta, to_dict
from cronstream._enums import (
    MIRRORS,
    AlertEventType,
    AlertState,
    ExecutionStatus,
    ExecutionTrigger,
    HandlerType,
    HealthState,
    HealthStatus,
    JobStatus,
    JobType,
    LogLevel,
    MisfirePolicy,
    OverlapPolicy,
    Priority,
)
from cronstream.scheduling import ConcurrencyLimit
from cronstream.v1 import alert_pb2, event_pb2, execution_pb2, insight_pb2, job_pb2

__all__ = [
    "MIRRORS",
    "Alert",
    "AlertEvent",
    "AlertEventType",
    "AlertState",
    "ComponentHealth",
    "ConcurrencyLimit",
    "CronTrigger",
    "EventHandler",
    "EventTrigger",
    "Execution",
    "ExecutionStatus",
    "ExecutionTrigger",
    "HandlerType",
    "Health",
    "HealthPolicy",
    "HealthState",
    "HealthStatus",
    "IntervalTrigger",
    "Job",
    "JobHealth",
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


_time = optional_datetime
_duration = optional_timedelta


def _optional(message: Message, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


def _concurrency(
    message: job_pb2.Job | event_pb2.EventHandler,
) -> ConcurrencyLimit | None:
    if not message.HasField("concurrency"):
        return None
    return ConcurrencyLimit.from_proto(message.concurrency)


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
class HealthPolicy:
    """When a job is unhealthy (docs/alerts.md); each condition opens an alert
    of its kind. Give it to `create_job(health_policy=...)`. A field left None
    takes the platform's default (SetHealthDefaults), else the documented one;
    a job read back shows None for the fields it left so.

    - `max_start_delay`: a firing not started this long after its instant is
      LATE (default: off; `timedelta(0)` turns it off explicitly);
    - `max_duration`: an execution running this long is OVERRUNNING (default
      off, likewise);
    - `consecutive_failures`: this many finished attempts in a row that failed
      or timed out make the job FAILING (1 to 100, default 3);
    - `alert_on_missed`: a slot that will not run (skipped by the misfire or
      overlap policy) makes it MISSED (default True);
    - `pause_on_failure`: the job pauses itself when it becomes FAILING
      (default False).
    """

    max_start_delay: timedelta | None = None
    max_duration: timedelta | None = None
    consecutive_failures: int | None = None
    alert_on_missed: bool | None = None
    pause_on_failure: bool | None = None

    @classmethod
    def from_proto(cls, m: job_pb2.HealthPolicy) -> HealthPolicy:
        return cls(
            max_start_delay=_duration(m, "max_start_delay"),
            max_duration=_duration(m, "max_duration"),
            consecutive_failures=_optional(m, "consecutive_failures"),
            alert_on_missed=_optional(m, "alert_on_missed"),
            pause_on_failure=_optional(m, "pause_on_failure"),
        )


@dataclass(frozen=True, slots=True)
class JobHealth:
    """A job's health: the worst of its open alerts, or HEALTHY."""

    state: HealthState
    #: The opening of that alert, or the resolution of the last one.
    since: datetime | None
    #: Why, in words; empty when healthy.
    reason: str


def _health(message: job_pb2.Job | insight_pb2.JobStats) -> JobHealth | None:
    if not message.HasField("health"):
        return None
    h = message.health
    return JobHealth(HealthState.of(h.state), _time(h, "since"), h.reason)


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
    health_policy: HealthPolicy
    #: None from a server that does not report health.
    health: JobHealth | None
    #: When a job paused with `pause_job(until=...)` resumes by itself; None
    #: for one paused until `resume_job` (and for an active job).
    paused_until: datetime | None
    #: None: no concurrency limit.
    concurrency: ConcurrencyLimit | None
    #: The rate limit its executions draw from; empty for none.
    rate_limit_key: str
    #: Ids of the jobs whose slot must have succeeded first.
    depends_on: tuple[str, ...]
    #: How long a slot waits for its dependencies; None: the server's default.
    max_wait: timedelta | None
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
            health_policy=HealthPolicy.from_proto(m.health_policy),
            health=_health(m),
            paused_until=_time(m, "paused_until"),
            concurrency=_concurrency(m),
            rate_limit_key=m.rate_limit_key,
            depends_on=tuple(m.depends_on),
            max_wait=_duration(m, "max_wait"),
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
    #: The expanded concurrency key it counts against; empty for none.
    concurrency_key: str
    #: The expanded rate-limit key it draws from; empty for none.
    rate_limit_key: str
    #: While WAITING: the ids of the jobs whose slot has not succeeded yet.
    waiting_for: tuple[str, ...]
    #: While WAITING: when it stops waiting and is skipped as missed.
    wait_deadline: datetime | None
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
            concurrency_key=m.concurrency_key,
            rate_limit_key=m.rate_limit_key,
            waiting_for=tuple(m.waiting_for),
            wait_deadline=_time(m, "wait_deadline"),
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
    #: As the job's: None for no concurrency limit.
    concurrency: ConcurrencyLimit | None
    #: As the job's: empty for none.
    rate_limit_key: str
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
            concurrency=_concurrency(m),
            rate_limit_key=m.rate_limit_key,
            proto=m,
        )


# --- alerts -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """A job's departure from its health policy, from the moment it was seen
    until the job was healthy again."""

    id: str
    platform_id: str
    job_id: str
    #: The job's name when the alert opened.
    job_name: str
    handler_name: str
    #: What is wrong: LATE, MISSED, OVERRUNNING or FAILING.
    kind: HealthState
    state: AlertState
    opened_at: datetime | None
    #: None while open.
    resolved_at: datetime | None
    reason: str
    #: The execution that caused it; empty when none did.
    execution_id: str
    #: The slot concerned (LATE, MISSED), when one is.
    scheduled_at: datetime | None
    #: True when the job paused itself (pause_on_failure).
    paused_job: bool
    proto: alert_pb2.Alert = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: alert_pb2.Alert) -> Alert:
        return cls(
            id=m.id,
            platform_id=m.platform_id,
            job_id=m.job_id,
            job_name=m.job_name,
            handler_name=m.handler_name,
            kind=HealthState.of(m.kind),
            state=AlertState.of(m.state),
            opened_at=_time(m, "opened_at"),
            resolved_at=_time(m, "resolved_at"),
            reason=m.reason,
            execution_id=m.execution_id,
            scheduled_at=_time(m, "scheduled_at"),
            paused_job=m.paused_job,
            proto=m,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEvent:
    """An alert's opening or resolution. `cursor` increases with every event
    of the platform: `watch_alerts(after_cursor=cursor)` resumes after it."""

    cursor: int
    type: AlertEventType
    #: The alert as it stood after the change.
    alert: Alert
    proto: alert_pb2.AlertEvent = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: alert_pb2.AlertEvent) -> AlertEvent:
        return cls(
            cursor=m.cursor,
            type=AlertEventType.of(m.type),
            alert=Alert.from_proto(m.alert),
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
    #: None from a server that does not report health.
    health: JobHealth | None
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
            health=_health(m),
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


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectedWorker:
    """A worker stream open on some replica, as that replica last reported
    it (every few seconds): `slots_in_use` and `last_seen` may be that old."""

    worker_id: str
    #: This stream's session (several may share a worker id).
    session_id: str
    handler_names: tuple[str, ...]
    slots: int
    slots_in_use: int
    connected_at: datetime | None
    #: When the replica received the stream's last message.
    last_seen: datetime | None
    #: The replica that serves the stream.
    replica: str
    proto: insight_pb2.ConnectedWorker = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: insight_pb2.ConnectedWorker) -> ConnectedWorker:
        return cls(
            worker_id=m.worker_id,
            session_id=m.session_id,
            handler_names=tuple(m.handler_names),
            slots=m.slots,
            slots_in_use=m.slots_in_use,
            connected_at=_time(m, "connected_at"),
            last_seen=_time(m, "last_seen"),
            replica=m.replica,
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
