"""The one table from domain errors to gRPC status codes and details."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from cronstream_server.core.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

STATUS_OF: dict[type[DomainError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def status_code_of(error: DomainError) -> grpc.StatusCode:
    for kind in type(error).__mro__:
        if kind in STATUS_OF and issubclass(kind, DomainError):
            return STATUS_OF[kind]
    return grpc.StatusCode.INTERNAL


def to_status(error: DomainError) -> grpc.Status:
    """A status with `google.rpc.BadRequest` details for invalid arguments."""
    code = status_code_of(error)
    proto = status_pb2.Status(code=_rpc_code(code), message=error.message)
    if isinstance(error, InvalidArgument):
        shown, hidden = reportable(error.violations)
        proto.message = InvalidArgument(shown).message + (f" (and {hidden} more)" if hidden else "")
        details = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in shown
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(details)
        proto.details.append(packed)
    if isinstance(error, ResourceExhausted):
        _add_quota_details(proto, error)
    status: grpc.Status = rpc_status.to_status(proto)
    return status


def _add_quota_details(proto: status_pb2.Status, error: ResourceExhausted) -> None:
    """`google.rpc.QuotaFailure` naming the quota, and `google.rpc.RetryInfo`
    with the wait that helps (clients' retry policies read it)."""
    if error.quota:
        failure = error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(
                    subject=f"quota:{error.quota}", description=error.message
                )
            ]
        )
        proto.details.add().Pack(failure)
    if error.retry_after is not None:
        info = error_details_pb2.RetryInfo()
        info.retry_delay.FromTimedelta(error.retry_after)
        proto.details.add().Pack(info)


# The message and the BadRequest travel in the trailers, which gRPC clients
# refuse above 8 KiB (their default soft limit; the caller would see
# RESOURCE_EXHAUSTED instead): a thousand-job batch or a huge bad value must
# not get there. The text goes out twice (the message, percent-encoded: up to
# three times its UTF-8 size; and the Status details, base64), hence the budget.
MAX_VIOLATION_BYTES = 200  # of a field path or a description, in UTF-8
VIOLATIONS_BUDGET = 1000  # UTF-8 bytes of field paths and descriptions


def reportable(violations: list[FieldViolation]) -> tuple[list[FieldViolation], int]:
    """The violations a status can carry, each clipped, in order, within the
    budget (at least one); and how many were left out."""
    shown: list[FieldViolation] = []
    used = 0
    for violation in violations:
        clipped = FieldViolation(_clip(violation.field), _clip(violation.description))
        used += len(clipped.field.encode()) + len(clipped.description.encode())
        if shown and used > VIOLATIONS_BUDGET:
            break
        shown.append(clipped)
    return shown, len(violations) - len(shown)


def _clip(text: str) -> str:
    data = text.encode()
    if len(data) <= MAX_VIOLATION_BYTES:
        return text
    # Cut at a character boundary, leaving room for the 3-byte ellipsis.
    return data[: MAX_VIOLATION_BYTES - 3].decode(errors="ignore") + "…"


def internal_status() -> grpc.Status:
    """What a caller sees of a bug: no stack trace, no internals."""
    proto = status_pb2.Status(
        code=code_pb2.INTERNAL, message="internal error; the server logged the details"
    )
    status: grpc.Status = rpc_status.to_status(proto)
    return status


def _rpc_code(code: grpc.StatusCode) -> int:
    value: int = code.value[0]
    return value
