"""Domain errors: what went wrong, in the domain's words.

The api layer translates each class to one gRPC status in a single table
(`cronstream_server.api.errors`); nothing below the api imports grpc.
"""

from __future__ import annotations

from datetime import timedelta

from cronstream_server.core.values import value_type


class DomainError(Exception):
    """Base of every error a caller can cause and be told about."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@value_type
class FieldViolation:
    """One bad field: `field` is the request path, such as `job.cron.expression`."""

    field: str
    description: str


class InvalidArgument(DomainError):
    """The request is malformed; `violations` names each bad field."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        # An empty field is the request as a whole (its bytes do not decode).
        summary = "; ".join(
            f"{v.field}: {v.description}" if v.field else v.description for v in violations
        )
        super().__init__(f"invalid request: {summary}")
        self.violations = violations

    @classmethod
    def of(cls, field: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field, description)])


class NotFound(DomainError):
    """No such resource in the caller's platform (which includes: another platform's)."""

    def __init__(self, kind: str, resource_id: str) -> None:
        super().__init__(f"{kind} {resource_id!r} not found")


class AlreadyExists(DomainError):
    """A unique name is taken."""


class FailedPrecondition(DomainError):
    """The resource is in a state that forbids the operation."""


class Unauthenticated(DomainError):
    """Missing, unknown or revoked credentials, or the wrong kind of key."""


class PermissionDenied(DomainError):
    """Authenticated, but this key may not do what the call asks."""


class ResourceExhausted(DomainError):
    """A size or rate limit was exceeded. A quota names itself (`quota`) and,
    when waiting helps, how long to wait (`retry_after`)."""

    def __init__(
        self, message: str, *, quota: str = "", retry_after: timedelta | None = None
    ) -> None:
        super().__init__(message)
        self.quota = quota
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A dependency (the database) cannot be reached right now; retrying may help."""
