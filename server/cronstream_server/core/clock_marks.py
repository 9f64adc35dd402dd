"""What a zone's clock changes do to a schedule: the marks PreviewSchedule shows.

Pure. The rules are core/cron.py's (Debian cron's, docs/time.md), read back through
`CronSchedule.named_wall_time` (what wall time a firing stands for), `wall_times` (what
the expression names) and `offset_changes` (the transitions the engine works with), so
the marks describe exactly what the engine fires:

* A fixed-time job's firing is *shifted* when it stands for a wall time a jump forward
  skipped. It fires once at the jump for every matching wall time in the gap: the first
  is its `scheduled_wall_time`; any others are listed as skipped by the change.
* A wildcard job firing in a repeated hour is marked *repeated_hour*, both times.
* A change lists the wall times that do not fire: a wildcard job's in a skipped hour,
  and a fixed-time job's second occurrences in a repeated one.

Interval and once triggers fire in real time: their instants are shown in UTC, unmarked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronstream_server.core.cron import CronSchedule, OffsetChange, offset_changes
from cronstream_server.core.triggers import CronTrigger, Trigger
from cronstream_server.core.values import value_type

__all__ = [
    "CLOCK_CHANGES_LIMIT",
    "SKIPPED_WALL_TIMES_LIMIT",
    "SKIPPED_WALL_TIMES_TOTAL",
    "ClockChange",
    "MarkedInstant",
    "clock_changes",
    "mark_instants",
]

# A change lists at most this many skipped wall times, the earliest ones: an
# every-second job names 3,600 in a skipped hour, and a list that long tells a
# reader no more than its first hundred do.
SKIPPED_WALL_TIMES_LIMIT = 100
# A preview lists at most this many clock changes, the earliest: a century of
# twice-yearly changes. Only a sparse schedule over centuries (1,000 leap days)
# crosses more, and finding each year's changes has a cost.
CLOCK_CHANGES_LIMIT = 200
# And all changes together list at most this many skipped wall times, so that
# 200 changes of an every-second job (100 each) stay a small message; later
# changes then list none.
SKIPPED_WALL_TIMES_TOTAL = 1000


@value_type
class MarkedInstant:
    """One firing instant and what the zone's clock does to it."""

    time: datetime  # UTC
    local_time: datetime  # aware, in the trigger's zone (UTC for interval and once)
    # When a jump forward skipped the wall time this firing stands for: that wall
    # time ("02:30", or "02:30:15" for an expression with seconds).
    scheduled_wall_time: str | None = None
    repeated_hour: bool = False

    @property
    def shifted(self) -> bool:
        return self.scheduled_wall_time is not None

    @property
    def utc_offset_seconds(self) -> int:
        offset = self.local_time.utcoffset()
        return 0 if offset is None else offset // timedelta(seconds=1)


@value_type
class ClockChange:
    """An offset change of the trigger's zone and the wall times it keeps from firing."""

    at: datetime  # UTC
    offset_before_seconds: int
    offset_after_seconds: int
    # "2026-03-08T02:30" (with ":SS" for an expression with seconds), in order, at
    # most SKIPPED_WALL_TIMES_LIMIT (and SKIPPED_WALL_TIMES_TOTAL over all changes).
    skipped_wall_times: tuple[str, ...] = ()


def mark_instants(trigger: Trigger, instants: list[datetime]) -> list[MarkedInstant]:
    """The marks of firing instants of `trigger` (as `triggers.preview` lists them)."""
    if not isinstance(trigger, CronTrigger):
        return [MarkedInstant(t, t.astimezone(UTC)) for t in instants]
    schedule = trigger.schedule()
    zone = ZoneInfo(schedule.timezone)
    return [_mark(schedule, zone, t) for t in instants]


def _mark(schedule: CronSchedule, zone: ZoneInfo, instant: datetime) -> MarkedInstant:
    local = instant.astimezone(zone)
    named = schedule.named_wall_time(instant)
    shifted = named != local.replace(tzinfo=None)
    return MarkedInstant(
        time=instant.astimezone(UTC),
        local_time=local,
        scheduled_wall_time=_wall_label(schedule, named, with_date=False) if shifted else None,
        repeated_hour=not schedule.fixed_time and _is_repeated(local),
    )


def _is_repeated(local: datetime) -> bool:
    """Whether the zone shows this wall time twice: the other fold has another offset.

    (In a skipped hour the folds differ too, but no real instant shows such a time.)
    """
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def clock_changes(trigger: Trigger, after: datetime, until: datetime) -> list[ClockChange]:
    """The first CLOCK_CHANGES_LIMIT offset changes of the trigger's zone in (after,
    until], each with the wall times near it that do not fire. Interval and once
    triggers live in UTC: none."""
    if not isinstance(trigger, CronTrigger):
        return []
    schedule = trigger.schedule()
    found: list[ClockChange] = []
    budget = SKIPPED_WALL_TIMES_TOTAL
    for change in offset_changes(schedule.timezone, after, until, CLOCK_CHANGES_LIMIT):
        skipped = _skipped(schedule, change, min(budget, SKIPPED_WALL_TIMES_LIMIT))
        budget -= len(skipped)
        labels = tuple(_wall_label(schedule, wall, with_date=True) for wall in skipped)
        found.append(ClockChange(change.at, change.before, change.after, labels))
    return found


def _skipped(schedule: CronSchedule, change: OffsetChange, limit: int) -> list[datetime]:
    """The wall times the change keeps from firing (see the module docstring).

    The wall times it touches are [at + lower offset, at + higher offset): shown
    never after a jump forward, twice after a jump back.
    """
    at = change.at.replace(tzinfo=None)
    low, high = sorted((change.before, change.after))
    first, end = at + timedelta(seconds=low), at + timedelta(seconds=high)
    forward = change.after > change.before
    if limit <= 0:
        return []
    if not schedule.fixed_time:
        # Wildcard: a skipped wall time never fires; a repeated one fires twice.
        return schedule.wall_times(first, end, limit) if forward else []
    if not forward:
        # Fixed: the virtual clock stands above the repeated wall times, so their
        # second occurrences do not fire.
        return schedule.wall_times(first, end, limit)
    # Fixed, jump forward: one firing at the jump stands for the gap's first match;
    # the others it merges do not fire on their own.
    in_gap = schedule.wall_times(first, end, limit + 1)
    named = schedule.named_wall_time(change.at)
    return [wall for wall in in_gap if wall != named][:limit]


def _wall_label(schedule: CronSchedule, wall: datetime, *, with_date: bool) -> str:
    """ "2026-03-08T02:30" or "02:30"; seconds only when the expression has them."""
    text = wall.strftime("%Y-%m-%dT%H:%M" if with_date else "%H:%M")
    return f"{text}:{wall:%S}" if schedule.has_seconds_field else text
