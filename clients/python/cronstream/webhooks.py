"""Verifying the webhook requests Cronstream sends (docs/alerts.md#webhooks).

Each request's `Cronstream-Signature` header is `t=<unix seconds>,v1=<hex>`,
the hex being HMAC-SHA256, keyed with the webhook's secret (`whsec_...`, as
CreateWebhook returned it), of `<t>.<raw body>`: Stripe's scheme. A header
holding several `v1=` entries (Stripe's way to roll a secret) verifies when
any one matches. Signing the timestamp with the body lets a receiver refuse a
replay: a request whose `t` is further than the tolerance from now.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta
from typing import Any

from google.protobuf import json_format

from cronstream.errors import ExpiredWebhookError, InvalidWebhookError
from cronstream.models import AlertEvent
from cronstream.v1 import alert_pb2

__all__ = ["DEFAULT_TOLERANCE", "SIGNATURE_HEADER", "verify_webhook"]

SIGNATURE_HEADER = "Cronstream-Signature"
DEFAULT_TOLERANCE = timedelta(seconds=300)  # Stripe's

_SCHEME = "v1"
_EVENT_TYPES = {
    "alert.opened": alert_pb2.ALERT_EVENT_TYPE_OPENED,
    "alert.resolved": alert_pb2.ALERT_EVENT_TYPE_RESOLVED,
}


def verify_webhook(
    secret: str,
    signature_header: str | None,
    body: bytes,
    *,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    now: datetime | None = None,
) -> AlertEvent:
    """The event a webhook request carries, once its signature is checked::

        event = verify_webhook(secret, request.headers.get("Cronstream-Signature"), raw_body)

    `body` is the request body exactly as received (bytes, before any JSON
    parsing). Signatures are compared in constant time. Raises
    `InvalidWebhookError` (answer 400) for a missing or malformed header, a
    signature that matches none, or a body that is not an event, and its
    subclass `ExpiredWebhookError` when the timestamp is further than
    `tolerance` from `now` (default: the current time). An event type this
    client does not know reads as `AlertEventType.UNSPECIFIED`."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(f"body must be the raw request bytes, not {type(body).__name__}")
    timestamp, candidates = _parse_header(signature_header)
    current = time.time() if now is None else now.timestamp()
    if abs(current - timestamp) > tolerance.total_seconds():
        raise ExpiredWebhookError(
            f"signed at {timestamp}, {abs(current - timestamp):.0f} s from now; "
            f"the tolerance is {tolerance.total_seconds():g} s"
        )
    expected = signature(secret, timestamp, bytes(body)).encode()
    if not any(hmac.compare_digest(expected, c.encode()) for c in candidates):
        raise InvalidWebhookError("no v1 signature matches the body and the secret")
    return _event(bytes(body))


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` keyed with `secret`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _parse_header(header: str | None) -> tuple[int, list[str]]:
    """The header's timestamp and its v1 signatures; other schemes are ignored."""
    if not header:
        raise InvalidWebhookError(f"no {SIGNATURE_HEADER} header")
    timestamps: list[str] = []
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == _SCHEME and value:
            candidates.append(value)
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise InvalidWebhookError(f"{SIGNATURE_HEADER} needs exactly one t=<unix seconds>")
    if not candidates:
        raise InvalidWebhookError(f"{SIGNATURE_HEADER} holds no {_SCHEME} signature")
    return int(timestamps[0]), candidates


def _event_type(name: object) -> alert_pb2.AlertEventType.ValueType:
    """`alert.opened` as webhooks name it, or the enum's own name (protobuf's
    JSON mapping of an AlertEvent); UNSPECIFIED for a type this client does
    not know."""
    if isinstance(name, str) and name in _EVENT_TYPES:
        return _EVENT_TYPES[name]
    if isinstance(name, str) and name in alert_pb2.AlertEventType.keys():
        return alert_pb2.AlertEventType.Value(name)
    return alert_pb2.ALERT_EVENT_TYPE_UNSPECIFIED


def _event(body: bytes) -> AlertEvent:
    """`{"type": "alert.opened", "cursor": 12, "alert": {...}}` as an AlertEvent;
    the alert is in protobuf's JSON mapping, and unknown fields are ignored."""
    try:
        document: Any = json.loads(body)
        message = alert_pb2.AlertEvent(
            cursor=int(document["cursor"]),
            type=_event_type(document["type"]),
        )
        json_format.ParseDict(document["alert"], message.alert, ignore_unknown_fields=True)
    except (ValueError, TypeError, KeyError, json_format.ParseError) as exc:
        raise InvalidWebhookError(f"the body is not a Cronstream event: {exc}") from exc
    return AlertEvent.from_proto(message)
