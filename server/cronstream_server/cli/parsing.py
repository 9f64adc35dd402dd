"""Reading option values: durations, instants, JSON payloads. A bad value is
a usage error (exit 2, Click's message naming the option) before any call."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import typer

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3_600, "d": 86_400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def duration(text: str) -> timedelta:
    """ "30s", "5m", "1h30m", "1.5s", "250ms", "2d": one or more number-unit
    pairs (units ms, s, m, h, d), as Go and grpcurl write them."""
    compact = text.strip()
    pairs = _DURATION.findall(compact)
    if not pairs or "".join(n + u for n, u in pairs) != compact:
        raise typer.BadParameter(f"{text!r} is not a duration such as 30s, 5m or 1h30m")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in pairs))


def instant(text: str) -> datetime:
    """An RFC 3339 instant with its offset: 2026-03-29T02:30:00+02:00, or Z."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() is None:
        raise typer.BadParameter(
            f"{text!r} is not an RFC 3339 time with an offset, such as 2026-01-31T09:00:00Z"
        )
    return parsed


def json_object(text: str) -> dict[str, Any]:
    """A JSON object, such as '{"customer": 42}'."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise typer.BadParameter("a JSON object is needed, such as '{\"customer\": 42}'")
    return value
