"""Keyword arguments -> Job and EventHandler messages (and update masks).

`create_job`, `update_job` and `preview_schedule` share one vocabulary,
`JobFields`; each key names a proto field (or a trigger) so the update mask is
simply the keys given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict

from google.protobuf.message import Message

from cronstream._convert import EnumType, Payload, duration, enum_value, struct, timestamp
from cronstream.models import HealthPolicy
from cronstream.scheduling import ConcurrencyLimit, concurrency_message
from cronstream.v1 import alert_pb2, event_pb2, execution_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

Priority = Literal["low", "medium", "high", "critical"]
OverlapPolicy = Literal["allow", "skip", "buffer_one", "cancel_previous"]
MisfirePolicy = Literal["run_once", "run_all", "skip"]
HandlerType = Literal["function", "agent", "workflow"]
JobStatusName = Literal["pending", "active", "paused", "completed", "failed", "cancelled"]
JobTypeName = Literal["cron", "one_time", "recurring", "event"]
ExecutionStatusName = Literal[
    "pending", "running", "success", "failed", "timeout", "cancelled", "skipped", "waiting"
]
HealthStateName = Literal["healthy", "late", "missed", "overrunning", "failing"]
AlertStateName = Literal["open", "resolved"]


class JobFields(TypedDict, total=False):
    """A job's settable fields. Give one trigger: `cron` (with `timezone`),
    `once`, `every` (with `start_at`, `end_at`, `max_runs`) or `event`.
    Enums take their short names (`priority="high"`) or the generated values."""

    name: str
    handler: str
    cron: str
    timezone: str
    once: datetime
    every: timedelta
    start_at: datetime
    end_at: datetime
    max_runs: int
    event: str
    payload: Payload
    max_retries: int
    retry_delay: timedelta
    timeout: timedelta
    priority: Priority | int
    tags: Sequence[str]
    metadata: Mapping[str, str]
    overlap_policy: OverlapPolicy | int
    misfire_policy: MisfirePolicy | int
    catchup_window: timedelta
    jitter: timedelta
    health_policy: HealthPolicy
    handler_type: HandlerType | int
    concurrency: ConcurrencyLimit | tuple[str, int]
    rate_limit_key: str
    depends_on: Sequence[str]
    max_wait: timedelta


class EventHandlerFields(TypedDict, total=False):
    """An event handler's settable fields."""

    event: str
    handler: str
    payload: Payload
    enabled: bool
    priority: Priority | int
    max_retries: int
    retry_delay: timedelta
    timeout: timedelta
    handler_type: HandlerType | int
    concurrency: ConcurrencyLimit | tuple[str, int]
    rate_limit_key: str


# The trigger each trigger argument belongs to, which is also its mask path.
_TRIGGER_OF = {
    "cron": "cron",
    "timezone": "cron",
    "once": "once",
    "every": "interval",
    "start_at": "interval",
    "end_at": "interval",
    "max_runs": "interval",
}
_PROTO_NAME = {"handler": "handler_name"}
_DURATIONS = frozenset({"retry_delay", "timeout", "catchup_window", "jitter", "max_wait"})
_ENUMS: dict[str, tuple[EnumType, str]] = {
    "priority": (job_pb2.Priority, "PRIORITY_"),
    "overlap_policy": (job_pb2.OverlapPolicy, "OVERLAP_POLICY_"),
    "misfire_policy": (job_pb2.MisfirePolicy, "MISFIRE_POLICY_"),
    "handler_type": (job_pb2.HandlerType, "HANDLER_TYPE_"),
}


def job_message(fields: JobFields) -> tuple[job_pb2.Job, list[str]]:
    """The Job the fields describe, and the mask paths they name."""
    job = job_pb2.Job()
    paths: list[str] = []
    trigger = _set_trigger(job, fields)
    if trigger is not None:
        paths.append(trigger)
    for key, value in fields.items():
        if key not in _TRIGGER_OF and key != "event":
            paths.append(_set_field(job, key, value))
    return job, paths


def event_handler_message(
    fields: EventHandlerFields,
) -> tuple[event_pb2.EventHandler, list[str]]:
    """The EventHandler the fields describe, and the mask paths they name."""
    handler = event_pb2.EventHandler()
    paths: list[str] = []
    for key, value in fields.items():
        if key == "event":
            handler.event_name = str(value)
            paths.append("event_name")
        else:
            paths.append(_set_field(handler, key, value))
    return handler, paths


def _set_trigger(job: job_pb2.Job, fields: JobFields) -> str | None:
    kinds = {_TRIGGER_OF[key] for key in fields if key in _TRIGGER_OF}
    if "event" in fields:
        kinds.add("event")
    if len(kinds) > 1:
        raise ValueError(f"give one trigger (cron, once, every or event), not {sorted(kinds)}")
    if not kinds:
        return None
    kind = kinds.pop()
    if kind == "cron":
        job.cron.expression = fields.get("cron", "")
        job.cron.timezone = fields.get("timezone", "")
    elif kind == "once":
        job.once.run_at.CopyFrom(timestamp(fields["once"]))
    elif kind == "event":
        job.event.event_name = fields["event"]
    else:
        _set_interval(job.interval, fields)
    return kind


def _set_interval(interval: job_pb2.IntervalTrigger, fields: JobFields) -> None:
    if "every" in fields:
        interval.every.CopyFrom(duration(fields["every"]))
    if "start_at" in fields:
        interval.start_at.CopyFrom(timestamp(fields["start_at"]))
    if "end_at" in fields:
        interval.end_at.CopyFrom(timestamp(fields["end_at"]))
    interval.max_runs = fields.get("max_runs", 0)


def _set_field(message: Message, key: str, value: Any) -> str:
    """Sets one field of a Job or EventHandler; returns its proto name."""
    name = _PROTO_NAME.get(key, key)
    if key == "payload":
        message.payload.CopyFrom(struct(value))  # type: ignore[attr-defined]
    elif key in _DURATIONS:
        getattr(message, name).CopyFrom(duration(value))
    elif key in _ENUMS:
        setattr(message, name, enum_value(*_ENUMS[key], value))
    elif key in ("tags", "depends_on"):
        getattr(message, name).extend(value)
    elif key == "metadata":
        getattr(message, name).update(value)
    elif key == "health_policy":
        message.health_policy.CopyFrom(health_policy_message(value))  # type: ignore[attr-defined]
    elif key == "concurrency":
        message.concurrency.CopyFrom(concurrency_message(value))  # type: ignore[attr-defined]
    else:
        setattr(message, name, value)
    return name


def health_policy_message(policy: HealthPolicy) -> job_pb2.HealthPolicy:
    """The policy as sent: what it leaves None stays unset (the server's default)."""
    if not isinstance(policy, HealthPolicy):
        raise TypeError(f"health_policy must be a HealthPolicy, not {type(policy).__name__}")
    message = job_pb2.HealthPolicy(
        consecutive_failures=policy.consecutive_failures,
        alert_on_missed=policy.alert_on_missed,
        pause_on_failure=policy.pause_on_failure,
    )
    if policy.max_start_delay is not None:
        message.max_start_delay.CopyFrom(duration(policy.max_start_delay))
    if policy.max_duration is not None:
        message.max_duration.CopyFrom(duration(policy.max_duration))
    return message


def job_statuses(values: Sequence[JobStatusName | int]) -> list[int]:
    return [enum_value(job_pb2.JobStatus, "JOB_STATUS_", v) for v in values]


def job_types(values: Sequence[JobTypeName | int]) -> list[int]:
    return [enum_value(job_pb2.JobType, "JOB_TYPE_", v) for v in values]


def execution_statuses(values: Sequence[ExecutionStatusName | int]) -> list[int]:
    return [enum_value(execution_pb2.ExecutionStatus, "EXECUTION_STATUS_", v) for v in values]


def health_states(values: Sequence[HealthStateName | int]) -> list[int]:
    return [enum_value(job_pb2.HealthState, "HEALTH_STATE_", v) for v in values]


def alert_states(values: Sequence[AlertStateName | int]) -> list[int]:
    return [enum_value(alert_pb2.AlertState, "ALERT_STATE_", v) for v in values]


# --- requests of the scheduling controls ---------------------------------------------


def job_selector(
    *, tags: Sequence[str] = (), handler: str = "", name_prefix: str = "", all_jobs: bool = False
) -> pb.JobSelector:
    """The jobs a bulk call acts on. The filters combine with AND; the server
    refuses an empty selector unless `all_jobs`, so a forgotten filter never
    pauses the whole platform."""
    return pb.JobSelector(tags=tags, handler_name=handler, name_prefix=name_prefix, all=all_jobs)


def pause_jobs_request(
    selector: pb.JobSelector, until: datetime | None, limit: int
) -> pb.PauseJobsRequest:
    request = pb.PauseJobsRequest(selector=selector, limit=limit)
    if until is not None:
        request.until.CopyFrom(timestamp(until))
    return request


def backfill_request(
    job_id: str, start: datetime, end: datetime, overlap_policy: OverlapPolicy | int | None
) -> pb.BackfillJobRequest:
    request = pb.BackfillJobRequest(id=job_id, start_time=timestamp(start), end_time=timestamp(end))
    if overlap_policy is not None:
        request.overlap_policy = enum_value(  # type: ignore[assignment]
            job_pb2.OverlapPolicy, "OVERLAP_POLICY_", overlap_policy
        )
    return request


def preview_request(
    trigger: JobFields,
    *,
    job_id: str,
    after: datetime | None,
    before: datetime | None,
    count: int | None,
) -> pb.PreviewScheduleRequest:
    """A preview of `trigger`'s trigger, or of the job `job_id`'s (the server
    refuses both); count None is the server's default."""
    request = pb.PreviewScheduleRequest(job_id=job_id, count=count or 0)
    if trigger:
        request.job.CopyFrom(job_message(trigger)[0])
    if after is not None:
        request.start_time.CopyFrom(timestamp(after))
    if before is not None:
        request.end_time.CopyFrom(timestamp(before))
    return request
