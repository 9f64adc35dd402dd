"""Protobuf <-> domain for rate limits."""

from __future__ import annotations

from datetime import timedelta

from cronstream.v1 import rate_limit_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert import Reader
from cronstream_server.api.convert_common import timestamp
from cronstream_server.core import rate_limits as rules
from cronstream_server.core.rate_limits import RateLimit, RateLimitSpec, Scope
from cronstream_server.core.validation import raise_if_any

_SCOPES = {"key": Scope.KEY, "handler_name": Scope.HANDLER}


def rate_limit_spec(request: pb.SetRateLimitRequest) -> RateLimitSpec:
    """SetRateLimit's limit, checked, its burst defaulted; InvalidArgument
    naming every bad field otherwise."""
    reader = Reader()
    if not request.HasField("rate_limit"):
        reader.bad("rate_limit", "is required")
        raise_if_any(reader.violations)
    message = request.rate_limit
    scope = _SCOPES.get(message.WhichOneof("scope") or "")
    per = timedelta(0)
    if message.HasField("per"):
        per = reader.duration("rate_limit.per", message.per) or timedelta(0)
    numbers = RateLimitSpec(Scope.KEY, "", message.limit, per, message.burst)
    return rules.validate(scope, _name(message), numbers, reader.violations)


def scope_of(request: pb.DeleteRateLimitRequest) -> tuple[Scope, str]:
    """DeleteRateLimit's limit: its scope and name; InvalidArgument when
    it names none."""
    reader = Reader()
    scope = _SCOPES.get(request.WhichOneof("scope") or "")
    name = request.key if scope is Scope.KEY else request.handler_name
    if scope is None or not name:
        reader.bad("scope", "set one of key or handler_name")
    raise_if_any(reader.violations)
    assert scope is not None
    return scope, name


def _name(message: rate_limit_pb2.RateLimit) -> str:
    return message.key if message.WhichOneof("scope") == "key" else message.handler_name


def rate_limit_message(limit: RateLimit) -> rate_limit_pb2.RateLimit:
    message = rate_limit_pb2.RateLimit(
        limit=limit.limit,
        burst=limit.burst,
        platform_id=limit.platform_id,
        created_at=timestamp(limit.created_at),
        updated_at=timestamp(limit.updated_at),
    )
    if limit.scope is Scope.KEY:
        message.key = limit.name
    else:
        message.handler_name = limit.name
    message.per.FromTimedelta(limit.per)
    return message
