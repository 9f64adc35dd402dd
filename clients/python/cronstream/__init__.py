"""Cronstream's Python client and worker.

- `Client`: the SchedulerService with keyword arguments, API-key auth and
  typed errors (`cronstream.errors`); it returns `cronstream.models`
  dataclasses (`Job`, `Execution`, `LogLine`, ...) with enums by name,
  aware datetimes and timedeltas.
- `Client.watch_alerts()`: alert events as they happen, reconnecting by
  itself; `verify_webhook()` checks and reads a webhook request.
- `Worker`: runs `async def handler(ctx: Context[T]) -> R` for the executions
  the server assigns over the WorkerService stream (T and R: dicts,
  dataclasses or pydantic models).
- `cronstream.scheduling`: what the scheduling controls take and return
  (concurrency and rate limits, bulk pause counts, backfills, previews).
- `cronstream.v1`: the generated messages and stubs.
"""

from cronstream._backoff import Backoff
from cronstream._version import __version__
from cronstream._watch import AlertWatch
from cronstream.client import Client
from cronstream.context import Context, LogLevelName
from cronstream.errors import (
    AlreadyExistsError,
    CronstreamError,
    ExpiredWebhookError,
    FailedPreconditionError,
    FieldViolation,
    GracePeriodExceededError,
    InvalidArgumentError,
    InvalidWebhookError,
    NonRetryable,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
)
from cronstream.models import (
    Alert,
    AlertEvent,
    AlertEventType,
    AlertState,
    ComponentHealth,
    ConnectedWorker,
    CronTrigger,
    EventHandler,
    EventTrigger,
    Execution,
    ExecutionStatus,
    ExecutionTrigger,
    HandlerType,
    Health,
    HealthPolicy,
    HealthState,
    HealthStatus,
    IntervalTrigger,
    Job,
    JobHealth,
    JobStats,
    JobStatus,
    JobType,
    LogLevel,
    LogLine,
    Metrics,
    MisfirePolicy,
    OnceTrigger,
    OverlapPolicy,
    Priority,
    Trigger,
)
from cronstream.scheduling import (
    Backfill,
    BulkChange,
    ClockChange,
    ConcurrencyLimit,
    PreviewSummary,
    RateLimit,
    ScheduledInstant,
    SchedulePreview,
)
from cronstream.webhooks import SIGNATURE_HEADER, verify_webhook
from cronstream.worker import Worker

__all__ = [
    "SIGNATURE_HEADER",
    "Alert",
    "AlertEvent",
    "AlertEventType",
    "AlertState",
    "AlertWatch",
    "AlreadyExistsError",
    "Backfill",
    "Backoff",
    "BulkChange",
    "Client",
    "ClockChange",
    "ComponentHealth",
    "ConcurrencyLimit",
    "ConnectedWorker",
    "Context",
    "CronTrigger",
    "CronstreamError",
    "EventHandler",
    "EventTrigger",
    "Execution",
    "ExecutionStatus",
    "ExecutionTrigger",
    "ExpiredWebhookError",
    "FailedPreconditionError",
    "FieldViolation",
    "GracePeriodExceededError",
    "HandlerType",
    "Health",
    "HealthPolicy",
    "HealthState",
    "HealthStatus",
    "IntervalTrigger",
    "InvalidArgumentError",
    "InvalidWebhookError",
    "Job",
    "JobHealth",
    "JobStats",
    "JobStatus",
    "JobType",
    "LogLevel",
    "LogLevelName",
    "LogLine",
    "Metrics",
    "MisfirePolicy",
    "NonRetryable",
    "NotFoundError",
    "OnceTrigger",
    "OverlapPolicy",
    "PermissionDeniedError",
    "PreviewSummary",
    "Priority",
    "RateLimit",
    "ResourceExhaustedError",
    "SchedulePreview",
    "ScheduledInstant",
    "Trigger",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "Worker",
    "__version__",
    "verify_webhook",
]
