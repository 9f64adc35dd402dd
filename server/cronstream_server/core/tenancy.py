"""Platforms (tenants), their API keys, and who is calling."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from cronstream_server.core.errors import FieldViolation
from cronstream_server.core.fairness import DEFAULT_WEIGHT, MAX_WEIGHT
from cronstream_server.core.validation import check_name, raise_if_any
from cronstream_server.core.values import value_type

# Secrets look like `cs_<43 url-safe characters>` (256 random bits); the
# prefix makes a leaked key easy to recognise in logs and secret scanners.
SECRET_PREFIX = "cs_"
DISPLAY_PREFIX_LENGTH = 10


@value_type
class Platform:
    id: str
    name: str
    created_at: datetime
    # Its share of each batch of due jobs beside other platforms' (core.fairness).
    weight: int = DEFAULT_WEIGHT


@value_type
class ApiKey:
    id: str
    platform_id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


@value_type
class PlatformPrincipal:
    """A caller authenticated by a platform's API key."""

    platform_id: str
    key_id: str
    key_name: str


@value_type
class AdminPrincipal:
    """A caller holding the admin key."""


Principal = PlatformPrincipal | AdminPrincipal


@value_type
class NewSecret:
    secret: str
    secret_hash: str
    prefix: str


def new_secret() -> NewSecret:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    return NewSecret(secret, hash_secret(secret), secret[:DISPLAY_PREFIX_LENGTH])


def hash_secret(secret: str) -> str:
    """SHA-256: the secret is 256 random bits, so a slow password hash adds nothing."""
    return hashlib.sha256(secret.encode()).hexdigest()


def validate_platform_name(name: str, field: str = "platform.name") -> None:
    violations: list[FieldViolation] = []
    check_name(violations, field, name)
    raise_if_any(violations)


def platform_weight(weight: int, field: str = "platform.weight") -> int:
    """A requested weight as stored: 0 (unset) is the default; otherwise 1
    to MAX_WEIGHT, else INVALID_ARGUMENT on `field`."""
    if weight == 0:
        return DEFAULT_WEIGHT
    if not 1 <= weight <= MAX_WEIGHT:
        message = f"must be 1 to {MAX_WEIGHT} (0 for the default, {DEFAULT_WEIGHT}), got {weight}"
        raise_if_any([FieldViolation(field, message)])
    return weight


def validate_key_name(name: str, field: str = "name") -> None:
    violations: list[FieldViolation] = []
    check_name(violations, field, name)
    raise_if_any(violations)
