"""Cronstream's Python client and worker.

- `Client`: the SchedulerService with keyword arguments, API-key auth and
  typed errors (`cronstream.errors`); it returns `cronstream.models`
  dataclasses (`Job`, `Execution`, `LogLine`, ...) with enums by name,
  aware datetimes and timedeltas.
- `Worker`: runs `async def handler(ctx: Context[T]) -> R` for the executions
  the server assigns over the WorkerService stream (T and R: dicts,
  dataclasses or pydantic models).
- `cronstream.v1`: the generated messages and stubs.
"""

from cronstream._backoff import Backoff
from cronstream._version import __version__
from cronstream.client import Client
from cronstream.context import Context, LogLevelName
from cronstream.errors import (
    AlreadyExistsError,
    CronstreamError,
    FailedPreconditionError,
    FieldViolation,
    GracePeriodExceededError,
    InvalidArgumentError,
    NonRetryable,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
)
from cronstream.models import (
    ComponentHealth,
    CronTrigger,
    EventHandler,
    EventTrigger,
    Execution,
    ExecutionStatus,
    ExecutionTrigger,
    HandlerType,
    Health,
    HealthStatus,
    IntervalTrigger,
    Job,
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
from cronstream.worker import Worker

__all__ = [
    "AlreadyExistsError",
    "Backoff",
    "Client",
    "ComponentHealth",
    "Context",
    "CronTrigger",
    "CronstreamError",
    "EventHandler",
    "EventTrigger",
    "Execution",
    "ExecutionStatus",
    "ExecutionTrigger",
    "FailedPreconditionError",
    "FieldViolation",
    "GracePeriodExceededError",
    "HandlerType",
    "Health",
    "HealthStatus",
    "IntervalTrigger",
    "InvalidArgumentError",
    "Job",
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
    "Priority",
    "ResourceExhaustedError",
    "Trigger",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "Worker",
    "__version__",
]
