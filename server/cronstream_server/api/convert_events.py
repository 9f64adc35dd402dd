"""Protobuf <-> domain for event handlers and insight (stats, metrics, health)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from datetime import timedelta
from typing import TypeVar

from cronstream.v1 import event_pb2, insight_pb2
from google.protobuf import duration_pb2

from cronstream_server.api.convert import (
    EXECUTION_STATUS,
    HANDLER_TYPE,
    JOB_STATUS,
    JOB_TYPE,
    PRIORITY,
    Reader,
    concurrency,
    concurrency_message,
    job_health_message,
)
from cronstream_server.api.convert_common import duration_from_ms, timestamp
from cronstream_server.core import events as event_rules
from cronstream_server.core.enums import HandlerType, Priority
from cronstream_server.core.events import EventHandler, EventHandlerSpec
from cronstream_server.core.insight import (
    ComponentHealth,
    ExecutionFigures,
    HealthStatus,
    PlatformFigures,
    overall,
)
from cronstream_server.core.jobs import Job
from cronstream_server.core.validation import raise_if_any

K = TypeVar("K")
N = TypeVar("N")

PREFIX = "event_handler"
HANDLER_PATHS = frozenset(f.name for f in fields(EventHandlerSpec))
ALL_FIELDS = "*"
HEALTH_STATUS = {
    HealthStatus.SERVING: insight_pb2.HEALTH_STATUS_SERVING,
    HealthStatus.DEGRADED: insight_pb2.HEALTH_STATUS_DEGRADED,
    HealthStatus.NOT_SERVING: insight_pb2.HEALTH_STATUS_NOT_SERVING,
}

# --- event handlers -----------------------------------------------------------


def handler_spec(
    reader: Reader, message: event_pb2.EventHandler, max_payload_bytes: int
) -> EventHandlerSpec:
    """Every user-settable field of `message`, defaults filled in for absent ones."""
    spec = EventHandlerSpec(
        event_name=message.event_name,
        handler_name=message.handler_name,
        handler_type=reader.enum(
            f"{PREFIX}.handler_type", message.handler_type, HANDLER_TYPE, HandlerType.FUNCTION
        ),
        priority=reader.enum(f"{PREFIX}.priority", message.priority, PRIORITY, Priority.MEDIUM),
        concurrency=concurrency(message),
        rate_limit_key=message.rate_limit_key,
    )
    if message.HasField("payload"):
        spec = replace(
            spec, payload=reader.struct(f"{PREFIX}.payload", message.payload, max_payload_bytes)
        )
    if message.HasField("enabled"):
        spec = replace(spec, enabled=message.enabled)
    if message.HasField("max_retries"):
        spec = replace(spec, max_retries=message.max_retries)
    if message.HasField("retry_delay"):
        spec = replace(spec, retry_delay=_duration(reader, "retry_delay", message))
    if message.HasField("timeout"):
        spec = replace(spec, timeout=_duration(reader, "timeout", message))
    return spec


def _duration(reader: Reader, name: str, message: event_pb2.EventHandler) -> timedelta:
    value = reader.duration(f"{PREFIX}.{name}", getattr(message, name))
    return timedelta(0) if value is None else value  # the violation is recorded already


def apply_handler_mask(
    handler: EventHandler,
    message: event_pb2.EventHandler,
    paths: Sequence[str],
    max_payload_bytes: int,
) -> EventHandlerSpec:
    """The handler's spec with the masked fields taken from `message` (an
    absent one takes its default), validated. `*` names every field."""
    reader = Reader()
    masked = _masked(reader, paths)
    incoming = handler_spec(reader, message, max_payload_bytes)
    spec = replace(handler.spec, **{name: getattr(incoming, name) for name in masked})
    relevant = [v for v in reader.violations if v.field.removeprefix(f"{PREFIX}.") in masked]
    event_rules.validate_spec(spec, PREFIX, relevant)
    return spec


def _masked(reader: Reader, paths: Sequence[str]) -> set[str]:
    if ALL_FIELDS in paths:
        if len(paths) > 1:
            reader.bad("update_mask.paths", "'*' must be the only path")
        masked = set(HANDLER_PATHS)
    else:
        masked = set()
        for index, path in enumerate(paths):
            if path in HANDLER_PATHS:
                masked.add(path)
            else:
                reader.bad(
                    f"update_mask.paths[{index}]", f"{path!r} is not a field that can be updated"
                )
    raise_if_any(reader.violations)
    return masked


def event_handler_message(handler: EventHandler) -> event_pb2.EventHandler:
    spec = handler.spec
    message = event_pb2.EventHandler(
        id=handler.id,
        event_name=spec.event_name,
        handler_name=spec.handler_name,
        enabled=spec.enabled,
        priority=PRIORITY[spec.priority],
        max_retries=spec.max_retries,
        platform_id=handler.platform_id,
        created_at=timestamp(handler.created_at),
        updated_at=timestamp(handler.updated_at),
        handler_type=HANDLER_TYPE[spec.handler_type],
        concurrency=concurrency_message(spec.concurrency),
        rate_limit_key=spec.rate_limit_key,
    )
    message.retry_delay.FromTimedelta(spec.retry_delay)
    message.timeout.FromTimedelta(spec.timeout)
    if spec.payload is not None:
        message.payload.update(spec.payload)
    return message


# --- insight ------------------------------------------------------------------


def job_stats_message(job: Job, figures: ExecutionFigures) -> insight_pb2.JobStats:
    return insight_pb2.JobStats(
        job_id=job.id,
        executions_by_status=[
            insight_pb2.ExecutionStatusCount(status=status, count=count)
            for status, count in _in_enum_order(figures.by_status, EXECUTION_STATUS)
        ],
        total_executions=figures.total,
        success_rate=figures.success_rate,
        avg_duration=duration_from_ms(figures.avg_duration_ms),
        p95_duration=duration_from_ms(figures.p95_duration_ms),
        last_run=timestamp(job.last_run),
        next_run=timestamp(job.next_run),
        health=job_health_message(job.health),
    )


def metrics_message(
    figures: PlatformFigures, connected_workers: int
) -> insight_pb2.SchedulerMetrics:
    return insight_pb2.SchedulerMetrics(
        jobs_by_status=[
            insight_pb2.JobStatusCount(status=status, count=count)
            for status, count in _in_enum_order(figures.jobs_by_status, JOB_STATUS)
        ],
        jobs_by_type=[
            insight_pb2.JobTypeCount(type=kind, count=count)
            for kind, count in _in_enum_order(figures.jobs_by_type, JOB_TYPE)
        ],
        executions_by_status=[
            insight_pb2.ExecutionStatusCount(status=status, count=count)
            for status, count in _in_enum_order(figures.executions_by_status, EXECUTION_STATUS)
        ],
        queue_depth=figures.queue_depth,
        connected_workers=connected_workers,
    )


def _in_enum_order(counts: Mapping[K, int], table: Mapping[K, N]) -> list[tuple[N, int]]:
    """(protobuf number, count) pairs in the enum's order, zero counts left out."""
    return [(number, counts[value]) for value, number in table.items() if counts.get(value)]


def health_message(components: Sequence[ComponentHealth]) -> insight_pb2.Health:
    return insight_pb2.Health(
        status=HEALTH_STATUS[overall(components)],
        components=[
            insight_pb2.ComponentHealth(
                name=c.name,
                status=HEALTH_STATUS[c.status],
                message=c.message,
                latency=_duration_message(c.latency),
            )
            for c in components
        ],
    )


def _duration_message(value: timedelta | None) -> duration_pb2.Duration | None:
    if value is None:
        return None
    message = duration_pb2.Duration()
    message.FromTimedelta(value)
    return message
