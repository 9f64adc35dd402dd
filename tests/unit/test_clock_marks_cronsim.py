"""The preview's clock marks against an independent derivation from cronsim.

cronsim (a dev dependency, docs/time.md) iterates a 5-field expression with
Debian's DST handling of its own. From its instants and zoneinfo alone, this
derives what our marks claim:

* repeated_hour: two of cronsim's instants show the same wall time;
* shifted: a fixed-time job (neither minute nor hour field starts with `*`) fires
  at the instant of a jump forward whose gap holds a matching wall time (by
  cronsim's own field sets); the first such wall time is the one it stands for;
* skipped wall times of a change: the matching wall times it touches that fire
  fewer times than the clock shows them (a repeated one shown twice), or, in a
  gap, that no shifted instant stands for.

The windows are two days either side of every offset change of 2026 and 2027 in
the zones the oracle test walks (test_cron_oracle.ZONES). cronsim's known defect in
those years (docs/time.md: it misses 02:00-02:29 of Lord Howe's fall-back day for
`* 2 * * *`) is avoided by the choice of expressions; its kin, a wildcard job
whose minute is off the half hour across Lord Howe's half-hour changes, is left
out (CRONSIM_WRONG, shown by the last test).
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim
from cronstream_server.core.schedule_preview import PreviewRange, preview
from cronstream_server.core.triggers import CronTrigger

from tests.unit.test_cron_oracle import ZONES

YEARS = (2026, 2027)
EXPRESSIONS = (
    "30 2 * * *",  # in US/EU spring gaps and Lord Howe's half-hour one
    "0 1 * * *",  # in London's repeated hour
    "15 0 * * *",  # Havana and Santiago change at midnight
    "0,30 1-3 * * *",  # fixed: several wall times merged into one shifted firing
    "*/30 * * * *",  # wildcard: twice in a repeated hour, never in a skipped one
    "45 * * * *",  # wildcard by its hour field
)
MINUTE = timedelta(minutes=1)
# cronsim advances a wildcard job's hours as if offsets changed by whole hours.
CRONSIM_WRONG = {("Australia/Lord_Howe", "45 * * * *")}


@dataclass(frozen=True)
class Change:
    at: datetime
    before: timedelta
    after: timedelta


@functools.cache
def changes(key: str) -> tuple[Change, ...]:
    """Offset changes (to the minute), from a day-by-day scan with zoneinfo."""
    zone = ZoneInfo(key)

    def offset(instant: datetime) -> timedelta:
        delta = instant.astimezone(zone).utcoffset()
        assert delta is not None
        return delta

    day, end = datetime(YEARS[0], 1, 1, tzinfo=UTC), datetime(YEARS[-1] + 1, 1, 1, tzinfo=UTC)
    found: list[Change] = []
    while day < end:
        if offset(day) != offset(day + timedelta(days=1)):
            instant = day
            while offset(instant) == offset(day):
                instant += MINUTE
            found.append(Change(instant, offset(day), offset(instant)))
        day += timedelta(days=1)
    return tuple(found)


def wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def matches(sim: CronSim, at: datetime) -> bool:
    return (
        at.minute in sim.minutes
        and at.hour in sim.hours
        and at.month in sim.months
        and sim.match_day(at.date())
    )


def matching_walls(sim: CronSim, first: datetime, end: datetime) -> list[datetime]:
    walls, at = [], first
    while at < end:
        if matches(sim, at):
            walls.append(at)
        at += MINUTE
    return walls


@dataclass(frozen=True)
class Derived:
    times: list[datetime]
    marks: list[tuple[str | None, bool]]  # (scheduled wall time, repeated_hour)
    skipped: list[tuple[str, ...]]  # per change


def derive(expression: str, key: str, change: Change, start: datetime, end: datetime) -> Derived:
    zone = ZoneInfo(key)
    sim = CronSim(expression, start.astimezone(zone))
    times: list[datetime] = []
    for local in sim:
        if (instant := local.astimezone(UTC)) >= end:
            break
        times.append(instant)
    shown = Counter(wall(t, zone) for t in times)
    fixed = not expression.split()[0].startswith("*") and not expression.split()[1].startswith("*")
    low, high = sorted((change.before, change.after))
    touched = matching_walls(sim, wall(change.at, UTC) + low, wall(change.at, UTC) + high)
    forward = change.after > change.before
    named = touched[0] if fixed and forward and touched and change.at in times else None
    marks = [
        (
            f"{named:%H:%M}" if named is not None and t == change.at else None,
            shown[wall(t, zone)] == 2,
        )
        for t in times
    ]
    clock_shows = 0 if forward else 2
    skipped = tuple(
        f"{w:%Y-%m-%dT%H:%M}" for w in touched if shown[w] < clock_shows or (forward and w != named)
    )
    return Derived(times, marks, [skipped])


CASES = [
    pytest.param(key, change, id=f"{key}-{change.at:%Y-%m-%d}")
    for key in ZONES
    for change in changes(key)
]


@pytest.mark.parametrize(("key", "change"), CASES)
def test_marks_agree_with_cronsim(key: str, change: Change) -> None:
    start, end = change.at - timedelta(days=2), change.at + timedelta(days=2)
    for expression in (e for e in EXPRESSIONS if (key, e) not in CRONSIM_WRONG):
        ours = preview(CronTrigger(expression, key), PreviewRange(start, 1000, end))
        theirs = derive(expression, key, change, start, end)
        assert ours.times == theirs.times, expression
        assert [(m.scheduled_wall_time, m.repeated_hour) for m in ours.instants] == theirs.marks, (
            expression
        )
        assert [c.at for c in ours.clock_changes] == [change.at]
        assert [c.skipped_wall_times for c in ours.clock_changes] == theirs.skipped, expression


def test_the_cases_cover_every_kind_of_mark() -> None:
    """The cross-check above sees shifted, repeated and skipped wall times."""
    seen = Counter[str]()
    for key, change in (("America/New_York", c) for c in changes("America/New_York")):
        for expression in EXPRESSIONS:
            start, end = change.at - timedelta(days=2), change.at + timedelta(days=2)
            got = preview(CronTrigger(expression, key), PreviewRange(start, 1000, end))
            seen["shifted"] += sum(m.shifted for m in got.instants)
            seen["repeated"] += sum(m.repeated_hour for m in got.instants)
            seen["skipped"] += sum(len(c.skipped_wall_times) for c in got.clock_changes)
    assert min(seen.values()) > 0 and len(seen) == 3, seen


def test_cronsim_is_wrong_where_it_is_left_out() -> None:
    """02:45 exists on Lord Howe's spring day (02:00 jumps to 02:30) and 01:45
    comes twice on its fall-back day; cronsim skips one of each, we do not."""
    zone, every_45 = ZoneInfo("Australia/Lord_Howe"), "45 * * * *"
    spring, autumn = (
        datetime(2026, 10, 3, 15, 45, tzinfo=UTC),
        datetime(2026, 4, 4, 15, 15, tzinfo=UTC),
    )
    assert (spring.astimezone(zone).isoformat(), autumn.astimezone(zone).isoformat()) == (
        "2026-10-04T02:45:00+11:00",
        "2026-04-05T01:45:00+10:30",
    )
    for instant in (spring, autumn):
        start = instant - timedelta(hours=3)
        sim = CronSim(every_45, start.astimezone(zone))
        theirs = [t.astimezone(UTC) for t in (next(sim) for _ in range(6))]
        ours = preview(CronTrigger(every_45, zone.key), PreviewRange(start, 6)).times
        assert instant in ours and instant not in theirs
