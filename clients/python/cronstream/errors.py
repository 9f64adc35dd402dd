"""Typed errors: gRPC statuses translated once, at the client's edge.

Every call of `Client` (and the worker's stream) raises a `CronstreamError`
subclass chosen by the status code, so callers write `except NotFoundError`
rather than comparing `grpc.StatusCode`s. `InvalidArgumentError` carries the
`google.rpc.BadRequest` field violations the server attaches, by field path
(such as `job.cron.expression`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

__all__ = [
    "AlreadyExistsError",
    "ExpiredWebhookError",
    "CronstreamError",
    "FailedPreconditionError",
    "FieldViolation",
    "GracePeriodExceededError",
    "InvalidArgumentError",
    "InvalidWebhookError",
    "NonRetryable",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "from_rpc_error",
]


class CronstreamError(Exception):
    """A call that failed with a gRPC status. `code` is that status code."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


class NotFoundError(CronstreamError):
    """No such resource, or one of another platform's (never revealed)."""

    code = grpc.StatusCode.NOT_FOUND


class UnauthenticatedError(CronstreamError):
    """The API key is missing, unknown or revoked."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(CronstreamError):
    """The key may not make this call."""

    code = grpc.StatusCode.PERMISSION_DENIED


class FailedPreconditionError(CronstreamError):
    """The resource is in the wrong state, such as resuming a cancelled job."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExistsError(CronstreamError):
    """The resource exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS


class ResourceExhaustedError(CronstreamError):
    """A limit was hit, such as the transport's message size."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class UnavailableError(CronstreamError):
    """The server (or its database) cannot be reached; retrying may help."""

    code = grpc.StatusCode.UNAVAILABLE


class UnimplementedError(CronstreamError):
    """The server does not implement the call."""

    code = grpc.StatusCode.UNIMPLEMENTED


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """A bad request field, by its path (`job.cron.expression`), and why."""

    field: str
    description: str


class InvalidArgumentError(CronstreamError):
    """INVALID_ARGUMENT, with the field violations of its `BadRequest` details."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str, violations: Sequence[FieldViolation] = ()) -> None:
        super().__init__(message)
        self.violations: list[FieldViolation] = list(violations)

    def __str__(self) -> str:
        if not self.violations:
            return super().__str__()
        named = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        return f"{self.code.name}: {named}"


class NonRetryable(Exception):
    """Raised by a handler: the attempt failed for good, so the server records
    the failure without retrying it (`retryable=false`)."""


class GracePeriodExceededError(Exception):
    """A stopping worker still ran handlers, or awaited acknowledgements, when
    its grace period ended; the handlers were cancelled."""

    def __init__(self, grace_period: float, running: int, unacknowledged: int) -> None:
        super().__init__(
            f"grace period of {grace_period:g} s exceeded: {running} executions running, "
            f"{unacknowledged} results unacknowledged"
        )
        self.running = running
        self.unacknowledged = unacknowledged


class InvalidWebhookError(ValueError):
    """A request that is not a genuine Cronstream webhook delivery: the
    `Cronstream-Signature` header is missing or malformed, no `v1` signature
    in it matches the body, its timestamp is outside the tolerance
    (`ExpiredWebhookError`), or the body is not an event. Answer it 400."""


class ExpiredWebhookError(InvalidWebhookError):
    """A correctly signed webhook whose timestamp is older (or further ahead)
    than the tolerance: possibly a replay."""


# What reconnecting cannot fix: the worker and `watch_alerts` raise these
# instead of reconnecting.
PERMANENT: tuple[type[CronstreamError], ...] = (
    UnauthenticatedError,
    PermissionDeniedError,
    InvalidArgumentError,
    UnimplementedError,
)

_BY_CODE: dict[grpc.StatusCode, type[CronstreamError]] = {
    kind.code: kind
    for kind in (
        NotFoundError,
        UnauthenticatedError,
        PermissionDeniedError,
        FailedPreconditionError,
        AlreadyExistsError,
        ResourceExhaustedError,
        UnavailableError,
        UnimplementedError,
    )
}


class _StatusCall(Protocol):
    """What a failed call (sync `grpc.RpcError` or `grpc.aio.AioRpcError`) offers."""

    def code(self) -> grpc.StatusCode: ...

    def details(self) -> str | None: ...

    def trailing_metadata(self) -> object: ...


def from_rpc_error(error: _StatusCall) -> CronstreamError:
    """The typed error of a failed gRPC call."""
    code, message = error.code(), error.details() or ""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgumentError(message, _violations(error))
    kind = _BY_CODE.get(code)
    if kind is None:
        return CronstreamError(message, code=code)
    return kind(message)


def _violations(error: _StatusCall) -> list[FieldViolation]:
    status = _rich_status(error)
    if status is None:
        return []
    found: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            found.extend(
                FieldViolation(v.field, v.description) for v in bad_request.field_violations
            )
    return found


def _rich_status(error: _StatusCall) -> status_pb2.Status | None:
    """The `google.rpc.Status` in the trailers, if any. A malformed one (its
    code or message disagreeing with the call's) is ignored, not raised."""
    try:
        return rpc_status.from_call(cast(grpc.Call, error))
    except ValueError:
        return None
