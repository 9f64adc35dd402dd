"""Rate limits: a platform's token buckets over a key or a handler
(docs/scheduling.md#rate-limits), and the bucket arithmetic the claim runs.

A bucket holds up to `burst` tokens and refills continuously at `limit`
tokens per `per`; an execution starts only with a token from every bucket
that applies to it. A key's limit is matched against the key as the job or
handler wrote it, and each key it expands to has a bucket of its own.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum

from cronstream_server.core.errors import FieldViolation
from cronstream_server.core.limits import check_key
from cronstream_server.core.validation import check_name, raise_if_any
from cronstream_server.core.values import value_type

MAX_RATE = 1_000_000
MIN_PER = timedelta(milliseconds=1)
MAX_PER = timedelta(days=1)


class Scope(StrEnum):
    KEY = "key"  # every execution whose rate_limit_key is `name`, as written
    HANDLER = "handler"  # every execution of the handler `name`


@value_type
class RateLimitSpec:
    """What SetRateLimit states; `burst` 0 means the default, `limit`."""

    scope: Scope
    name: str
    limit: int
    per: timedelta
    burst: int = 0


@value_type
class RateLimit:
    platform_id: str
    scope: Scope
    name: str
    limit: int
    per: timedelta
    burst: int
    created_at: datetime
    updated_at: datetime

    @property
    def interval(self) -> timedelta:
        """How long one token takes to come back."""
        return self.per / self.limit


def validate(
    scope: Scope | None, name: str, numbers: RateLimitSpec, violations: list[FieldViolation]
) -> RateLimitSpec:
    """The limit of `scope` and `name` with the numbers of `numbers` (its
    burst defaulted), or InvalidArgument naming every bad field."""
    check_scope(violations, "rate_limit", scope, name)
    if not 1 <= numbers.limit <= MAX_RATE:
        violations.append(FieldViolation("rate_limit.limit", f"must be 1 to {MAX_RATE:,}"))
    if not MIN_PER <= numbers.per <= MAX_PER:
        violations.append(FieldViolation("rate_limit.per", "must be from 1 ms to 1 day"))
    if not 0 <= numbers.burst <= MAX_RATE:
        violations.append(FieldViolation("rate_limit.burst", f"must be 1 to {MAX_RATE:,}"))
    raise_if_any(violations)
    assert scope is not None  # check_scope said so
    return replace(numbers, scope=scope, name=name, burst=numbers.burst or numbers.limit)


def check_scope(
    violations: list[FieldViolation], prefix: str, scope: Scope | None, name: str
) -> None:
    """Exactly one of key and handler_name, 1 to 200 characters."""
    if scope is None:
        violations.append(FieldViolation(f"{prefix}.scope", "set one of key or handler_name"))
    elif scope is Scope.KEY:
        check_key(violations, f"{prefix}.key", name, required=True)
    else:
        check_name(violations, f"{prefix}.handler_name", name)


def set_limit(
    spec: RateLimitSpec, platform_id: str, now: datetime, before: RateLimit | None
) -> RateLimit:
    """The limit SetRateLimit stores: a replaced one keeps its created_at."""
    return RateLimit(
        platform_id=platform_id,
        scope=spec.scope,
        name=spec.name,
        limit=spec.limit,
        per=spec.per,
        burst=spec.burst,
        created_at=before.created_at if before else now,
        updated_at=now,
    )


# --- buckets ------------------------------------------------------------------


@value_type
class Bucket:
    """Tokens held at `at`; a bucket never drawn from is full."""

    tokens: float
    at: datetime


def level(limit: RateLimit, bucket: Bucket | None, now: datetime) -> Bucket:
    """The bucket refilled up to `now`, never past its size."""
    if bucket is None:
        return Bucket(float(limit.burst), now)
    elapsed = max(timedelta(0), now - bucket.at)
    refilled = bucket.tokens + elapsed / limit.interval
    return Bucket(min(float(limit.burst), refilled), max(now, bucket.at))


# Refill arithmetic in floats: a bucket read exactly at `next_token` may
# hold 0.9999999999 tokens, which counts as the whole one it is.
_EPSILON = 1e-9


def take(bucket: Bucket) -> Bucket | None:
    """The bucket after one start, or None when it has no whole token."""
    if bucket.tokens < 1.0 - _EPSILON:
        return None
    return replace(bucket, tokens=bucket.tokens - 1.0)


def next_token(limit: RateLimit, bucket: Bucket) -> datetime:
    """When the bucket next holds a whole token."""
    missing = max(0.0, 1.0 - bucket.tokens)
    return bucket.at + limit.interval * missing
