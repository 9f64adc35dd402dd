"""Retention of finished executions: which ones may be deleted, and how long
they are kept (the CRONSTREAM_EXECUTION_RETENTION setting's syntax).

An execution may be deleted once it is final (no worker writes to it any
more: a late result is refused by its attempt fence) and finished longer ago
than the retention. Pending and running executions are never deleted,
whatever their age. A job's lifetime counters live on the job row, so they
survive the history they count.
"""

from __future__ import annotations

import re
from datetime import timedelta

from cronstream_server.core.enums import ExecutionStatus

DEFAULT_RETENTION = timedelta(days=30)
# Longer is "forever" in practice, and keeps `now - retention` a valid date.
MAX_RETENTION = timedelta(days=36_500)

# Statuses an execution never leaves on its own. RetryExecution can bring a
# failed, timed-out or cancelled one back to pending, and clears completed_at
# as it does, so a retried execution is not old by completed_at.
FINISHED = tuple(status for status in ExecutionStatus if status.is_final)

_KEEP_FOREVER = frozenset({"0", "off", "false", "no"})  # as CRONSTREAM_TICKER reads "off"
_UNITS = {
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}
_PART = re.compile(r"(\d+)([dhms])")


def parse_retention(text: str) -> timedelta | None:
    """`7d`, `24h`, `30m`, `90s` or a sum such as `1d12h`; `0` or `off` (None)
    keeps executions forever. Raises ValueError saying what is accepted."""
    value = text.strip().lower()
    if value in _KEEP_FOREVER:
        return None
    parts = _PART.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit (d, h, m, s) such as "
            "7d, 24h or 30m, or 0/off to keep executions forever"
        )
    seconds = sum(int(number) * int(_UNITS[unit].total_seconds()) for number, unit in parts)
    if seconds > MAX_RETENTION.total_seconds():
        raise ValueError(f"{text!r} is longer than 36500d: use off to keep executions forever")
    return timedelta(seconds=seconds) if seconds else None


def format_retention(keep: timedelta | None) -> str:
    """The inverse of `parse_retention`, for logs: `7d`, `1d12h`, `off`."""
    if keep is None:
        return "off"
    left, out = int(keep.total_seconds()), []
    for unit, size in _UNITS.items():
        count, left = divmod(left, int(size.total_seconds()))
        if count:
            out.append(f"{count}{unit}")
    return "".join(out) or "0s"
