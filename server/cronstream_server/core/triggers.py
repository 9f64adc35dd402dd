"""When a job runs next, for every kind of trigger.

The engine and the PreviewSchedule RPC both call these functions, so a preview lists
exactly the slots the engine will fire. Pure: no I/O, no clock; callers pass `now`.
All returned instants are aware UTC datetimes.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from cronstream_server.core.cron import CronSchedule
from cronstream_server.core.values import value_type

__all__ = [
    "CronTrigger",
    "EventTrigger",
    "IntervalTrigger",
    "OnceTrigger",
    "Trigger",
    "TriggerError",
    "first_run",
    "next_run",
    "preview",
]


class TriggerError(ValueError):
    """A trigger whose fields contradict each other or are out of range."""


def _utc(name: str, value: datetime) -> datetime:
    """`value` in UTC. Arithmetic on two datetimes sharing a zone is wall-clock
    arithmetic in Python (it ignores DST), so everything is converted first."""
    if value.utcoffset() is None:
        raise TriggerError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def cron_schedule(expression: str, timezone: str) -> CronSchedule:
    """`CronSchedule.parse`, remembered: parsing is most of what validating
    and firing a cron job costs, and jobs share expressions (a bulk load
    repeats a few over and over). Raises as `parse` does; errors are not kept."""
    return CronSchedule.parse(expression, timezone)


@value_type
class CronTrigger:
    """Fires on a cron expression in an IANA timezone (Debian cron's DST rules)."""

    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        self.schedule()  # raises CronExpressionError / TimezoneError

    def schedule(self) -> CronSchedule:
        return cron_schedule(self.expression, self.timezone)


@value_type
class OnceTrigger:
    """Fires once at `run_at`; a `run_at` already past fires at once."""

    run_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_at", _utc("run_at", self.run_at))


@value_type
class IntervalTrigger:
    """Fires on the grid `start_at + k * every` (k = 0, 1, ...), in real time.

    The slots are the first `max_runs` grid points (all if None) that are not later
    than `end_at` (no end if None).
    """

    every: timedelta
    start_at: datetime
    end_at: datetime | None = None
    max_runs: int | None = None

    def __post_init__(self) -> None:
        if self.every <= timedelta(0):
            raise TriggerError("every must be positive")
        object.__setattr__(self, "start_at", _utc("start_at", self.start_at))
        if self.end_at is not None:
            object.__setattr__(self, "end_at", _utc("end_at", self.end_at))
            if self.end_at < self.start_at:
                raise TriggerError("end_at is before start_at")
        if self.max_runs is not None and self.max_runs < 1:
            raise TriggerError("max_runs must be at least 1")

    def slot(self, index: int) -> datetime | None:
        """Grid point `index`, or None when it lies past `end_at` or `max_runs`."""
        if self.max_runs is not None and index >= self.max_runs:
            return None
        at = self.start_at + index * self.every
        if self.end_at is not None and at > self.end_at:
            return None
        return at

    def index_after(self, instant: datetime) -> int:
        """The index of the first grid point strictly after `instant`."""
        if instant < self.start_at:
            return 0
        return (instant - self.start_at) // self.every + 1


@value_type
class EventTrigger:
    """Fires only when the named event arrives: never on a clock."""

    event_name: str


Trigger = CronTrigger | OnceTrigger | IntervalTrigger | EventTrigger


def first_run(trigger: Trigger, now: datetime) -> datetime | None:
    """The first slot of a trigger created at `now`.

    Once: `run_at`, even when past. Interval: `start_at` (the caller passes
    `start_at=now` when the user gave none). Cron: the first firing after `now`.
    Event: None.
    """
    now = _utc("now", now)
    match trigger:
        case OnceTrigger(run_at=run_at):
            return run_at
        case IntervalTrigger():
            return trigger.slot(0)
        case CronTrigger():
            return trigger.schedule().next_after(now)
        case EventTrigger():
            return None


def next_run(trigger: Trigger, previous_slot: datetime, runs_so_far: int) -> datetime | None:
    """The slot after `previous_slot`, or None when the trigger is done.

    `runs_so_far` counts the runs already made, `previous_slot`'s included; an
    interval stops once it reaches `max_runs`, and in any case after its last slot.
    """
    previous_slot = _utc("previous_slot", previous_slot)
    match trigger:
        case IntervalTrigger(max_runs=max_runs):
            if max_runs is not None and runs_so_far >= max_runs:
                return None
            return trigger.slot(trigger.index_after(previous_slot))
        case CronTrigger():
            return trigger.schedule().next_after(previous_slot)
        case OnceTrigger() | EventTrigger():
            return None


def preview(
    trigger: Trigger, start_time: datetime, count: int, before: datetime | None = None
) -> list[datetime]:
    """The next `count` slots strictly after `start_time` (and strictly before
    `before`, when given), as the engine fires them.

    An interval counts `max_runs` from `start_at`, so slots before `start_time` use
    up runs even though they are not listed.
    """
    start_time = _utc("start_time", start_time)
    end = None if before is None else _utc("before", before)
    if count < 0:
        raise TriggerError("count must not be negative")
    match trigger:
        case OnceTrigger(run_at=run_at):
            in_range = start_time < run_at and (end is None or run_at < end)
            return [run_at] if in_range and count else []
        case IntervalTrigger():
            return _interval_preview(trigger, start_time, count, end)
        case CronTrigger():
            return _cron_preview(trigger.schedule(), start_time, count, end)
        case EventTrigger():
            return []


def _interval_preview(
    trigger: IntervalTrigger, start_time: datetime, count: int, before: datetime | None
) -> list[datetime]:
    first = trigger.index_after(start_time)
    slots: list[datetime] = []
    for index in range(first, first + count):
        slot = trigger.slot(index)
        if slot is None or (before is not None and slot >= before):
            break
        slots.append(slot)
    return slots


def _cron_preview(
    schedule: CronSchedule, start_time: datetime, count: int, before: datetime | None
) -> list[datetime]:
    slots: list[datetime] = []
    cursor: datetime | None = start_time
    while len(slots) < count and cursor is not None:
        cursor = schedule.next_after(cursor)
        if cursor is None or (before is not None and cursor >= before):
            break
        slots.append(cursor)
    return slots
