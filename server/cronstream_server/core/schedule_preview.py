"""PreviewSchedule's answer: a trigger's instants in a range, marked, and summed up.

Pure: the caller passes the range and, for an existing job, the p95 of its
durations (read by the store).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from cronstream_server.core import triggers
from cronstream_server.core.clock_marks import (
    ClockChange,
    MarkedInstant,
    clock_changes,
    mark_instants,
)
from cronstream_server.core.triggers import Trigger
from cronstream_server.core.values import value_type

__all__ = ["Preview", "PreviewRange", "predicted_overlaps", "preview"]

_JUST_BEFORE = timedelta(microseconds=1)


@value_type
class PreviewRange:
    """Instants strictly after `start` and strictly before `end` (None: no end),
    at most `count` of them."""

    start: datetime
    count: int
    end: datetime | None = None


@value_type
class Preview:
    instants: tuple[MarkedInstant, ...]
    # ("YYYY-MM" in the trigger's zone, instants in it), in order.
    instants_per_month: tuple[tuple[str, int], ...]
    clock_changes: tuple[ClockChange, ...]
    truncated: bool  # more instants follow before `end` (or at all, without one)
    p95_duration: timedelta | None = None
    predicted_overlaps: int = 0

    @property
    def times(self) -> list[datetime]:
        return [instant.time for instant in self.instants]


def preview(trigger: Trigger, bounds: PreviewRange, p95: timedelta | None = None) -> Preview:
    """The instants the engine fires in `bounds`, marked, with the summary.

    Clock changes are those from `start` to `end`, or to the last instant when
    `count` stopped the preview first (or there is no `end`): the range previewed
    is the one the instants cover, so a cut preview of an every-second job does
    not list the changes of the years it did not reach.
    """
    found = triggers.preview(trigger, bounds.start, bounds.count + 1, bounds.end)
    truncated = len(found) > bounds.count
    times = found[: bounds.count]
    until = times[-1] if times else bounds.start
    if bounds.end is not None and not truncated:
        until = bounds.end - _JUST_BEFORE
    marked = mark_instants(trigger, times)
    return Preview(
        instants=tuple(marked),
        instants_per_month=tuple(Counter(f"{m.local_time:%Y-%m}" for m in marked).items()),
        clock_changes=tuple(clock_changes(trigger, bounds.start, until)),
        truncated=truncated,
        p95_duration=p95,
        predicted_overlaps=predicted_overlaps(times, p95) if p95 is not None else 0,
    )


def predicted_overlaps(times: list[datetime], p95: timedelta) -> int:
    """How many instants come sooner after the one before than `p95`: a run
    started then is likely still going. The first has no instant before it here."""
    return sum(1 for before, after in zip(times, times[1:], strict=False) if after - before < p95)
