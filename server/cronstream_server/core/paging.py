"""Opaque page tokens for keyset pagination.

A token carries the sort key of the last row returned and a fingerprint of
the query it belongs to (platform and filters). A token presented with
another platform or other filters, or one that does not decode, is refused:
it could only skip or repeat rows. Tokens grant nothing by themselves (every
query is still scoped to the caller's platform), so they are not signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Any, Protocol

from cronstream_server.core.errors import InvalidArgument
from cronstream_server.core.values import value_type

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@value_type
class PageRequest:
    size: int
    after: tuple[str, ...] | None  # sort key of the last row of the previous page


def sort_key(created_at: datetime, row_id: str) -> tuple[str, ...]:
    """The key a page token carries for a row of a (created_at, id) list."""
    return (created_at.isoformat(), row_id)


def page_size(requested: int, *, default: int = DEFAULT_PAGE_SIZE) -> int:
    """0 means the default; larger than the cap is capped (AIP-158)."""
    if requested < 0:
        raise InvalidArgument.of("page_size", "must not be negative")
    return min(requested or default, MAX_PAGE_SIZE)


def fingerprint(*scope: Any) -> str:
    """A short digest of what a token is bound to."""
    canonical = json.dumps(scope, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_token(key: tuple[str, ...], scope: str) -> str:
    raw = json.dumps({"k": list(key), "s": scope}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, scope: str) -> tuple[str, ...] | None:
    """The sort key in `token`, or None for an empty token (the first page)."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key, token_scope = body["k"], body["s"]
    except (ValueError, binascii.Error, KeyError, TypeError, UnicodeError) as exc:
        raise InvalidArgument.of("page_token", "is not a token this server issued") from exc
    if (
        token_scope != scope
        or not isinstance(key, list)
        or not all(isinstance(part, str) for part in key)
    ):
        raise InvalidArgument.of(
            "page_token", "belongs to another query; repeat the request with the same filters"
        )
    return tuple(key)


class Keyed(Protocol):
    """A row of a (created_at, id) list."""

    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> str: ...


def next_page_token(last: Keyed | None, scope: str) -> str:
    """The token for the page after the one ending with `last` (None: no more pages)."""
    return encode_token(sort_key(last.created_at, last.id), scope) if last is not None else ""


def page_request(requested_size: int, token: str, scope: str) -> PageRequest:
    return PageRequest(page_size(requested_size), decode_token(token, scope))
