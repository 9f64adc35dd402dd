"""Cronstream's Python client and worker.

- `Client`: the SchedulerService with keyword arguments, API-key auth and
  typed errors (`cronstream.errors`).
- `Worker`: runs `async def handler(ctx: Context) -> dict` for the executions
  the server assigns over the WorkerService stream.
- `cronstream.v1`: the generated messages and stubs.
"""

from cronstream._backoff import Backoff
from cronstream._version import __version__
from cronstream.client import Client
from cronstream.context import Context, LogLevel
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
from cronstream.worker import Worker

__all__ = [
    "AlreadyExistsError",
    "Backoff",
    "Client",
    "Context",
    "CronstreamError",
    "FailedPreconditionError",
    "FieldViolation",
    "GracePeriodExceededError",
    "InvalidArgumentError",
    "LogLevel",
    "NonRetryable",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "Worker",
    "__version__",
]
