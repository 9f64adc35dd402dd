"""The webhook signature: Stripe's scheme, so receivers can reuse what they know.

Each request carries `Cronstream-Signature: t=<unix seconds>,v1=<hex>`,
where the hex is HMAC-SHA256, keyed with the webhook's secret (its UTF-8
bytes, `whsec_` prefix included), of `<t>.<body>`: the timestamp, a full
stop, and the request body exactly as received. Signing the timestamp with
the body lets a receiver refuse a replayed request (one whose `t` is older
than its tolerance); every attempt is signed anew, with its own `t`.
Receivers compare in constant time and ignore `v<n>` schemes they do not know.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Cronstream-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300  # Stripe's default


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` keyed with `secret`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header_value(secret: str, timestamp: int, body: bytes) -> str:
    """The Cronstream-Signature header of a request sent at `timestamp`."""
    return f"t={timestamp},{SCHEME}={signature(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: True when `header` holds a v1 signature of
    `body` with `secret` made within `tolerance` seconds of `now`."""
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME:
            candidates.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
