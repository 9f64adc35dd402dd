"""What of a browser's request headers reaches the gRPC call.

An allowlist: the credentials, the trace context and the deadline. Anything
else a browser or a proxy adds (cookies above all) never becomes metadata.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

FORWARDED = ("authorization", "x-cronstream-platform", "traceparent", "tracestate")
# grpc-timeout: at most 8 digits and a unit (the gRPC spec's TimeoutValue).
_TIMEOUT = re.compile(r"(\d{1,8})([HMSmun])")
_SECONDS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


class BadTimeout(ValueError):
    """The grpc-timeout header is not a gRPC timeout."""


def call_metadata(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((name, headers[name]) for name in FORWARDED if name in headers)


def call_timeout(headers: Mapping[str, str]) -> float | None:
    """The call's deadline in seconds from now; None when the browser set none."""
    value = headers.get("grpc-timeout")
    if value is None:
        return None
    match = _TIMEOUT.fullmatch(value.strip())
    if match is None:
        raise BadTimeout(f"grpc-timeout {value!r} is not a timeout such as 30S or 1500m")
    return int(match[1]) * _SECONDS[match[2]]
