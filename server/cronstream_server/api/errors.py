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
    InvalidArgument,
    NotFound,
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
        details = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(details)
        proto.details.append(packed)
    status: grpc.Status = rpc_status.to_status(proto)
    return status


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
