"""`CronSchedule.next_after` against a brute-force oracle built on zoneinfo alone.

The oracle walks real time minute by minute (second by second for 6-field
expressions), converts each instant to wall time with `datetime.astimezone`, and
applies docs/time.md's rules as literally as they are written:

* wildcard job: fire at every instant whose wall time matches;
* fixed-time job: keep Debian's virtual clock (the latest wall time shown so far); at
  each instant, fire once if any wall time the virtual clock moves past (usually just
  the current one; every skipped one after a jump forward; none while the clock
  repeats an hour) matches.

It shares nothing with the implementation but the parsed field sets and the
fixed/wildcard classification, which test_cron_rules.py checks on their own. It finds
each zone's offset changes by scanning day by day, then walks two days either side
of each, plus a few ordinary weeks.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cronstream_server.core.cron import CronSchedule
from hypothesis import given, settings
from hypothesis import strategies as st

ZONES = (
    "America/New_York",
    "Europe/Berlin",
    "Europe/London",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/St_Johns",
    "Africa/Casablanca",
    "UTC",
    "Asia/Tokyo",
    "America/Los_Angeles",
    "Europe/Moscow",
    "America/Sao_Paulo",
    "Asia/Tehran",
    "Pacific/Auckland",
    "Europe/Dublin",
    "America/Havana",
    "Asia/Gaza",
    "Pacific/Apia",
    "Asia/Beirut",
    "Antarctica/Troll",  # a two-hour jump
)

EXPRESSIONS = (
    "30 2 * * *",  # inside US/EU spring gaps and Lord Howe's half-hour gap
    "0 1 * * *",  # inside London's repeated hour
    "15 0 * * *",  # Havana and Santiago shift at midnight
    "0 0 * * *",
    "0 * * * *",
    "*/15 * * * *",
    "* 2 * * *",
    "30 1 * * 0",
    "0 0 29 2 *",
    "0,30 1-3 * * *",  # a list and a range: still fixed-time
    "*/30 1,2 * * *",  # a step: wildcard
    "0 2 1,15 * SUN",  # both day fields restricted: either matches
    "45 23 * * 6",
)

YEARS = range(2026, 2033)
ORDINARY_WEEKS = (date(2026, 6, 15), date(2028, 2, 25), date(2031, 12, 28))
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


def offset(zone: ZoneInfo, instant: datetime) -> timedelta | None:
    return instant.astimezone(zone).utcoffset()


@functools.cache
def transitions(key: str) -> tuple[datetime, ...]:
    """Instants (to the minute) where the offset changes, from a day-by-day scan."""
    zone = ZoneInfo(key)
    day = datetime(YEARS[0], 1, 1, tzinfo=UTC)
    end = datetime(YEARS[-1] + 1, 1, 1, tzinfo=UTC)
    found: list[datetime] = []
    while day < end:
        following = day + timedelta(days=1)
        if offset(zone, day) != offset(zone, following):
            instant = day
            while offset(zone, instant) == offset(zone, day):
                instant += MINUTE
            found.append(instant)
        day = following
    return tuple(found)


@functools.cache
def windows(key: str) -> tuple[tuple[datetime, datetime], ...]:
    """Four days around each transition, and a few ordinary weeks, merged."""
    spans = [(t - timedelta(days=2), t + timedelta(days=2)) for t in transitions(key)]
    for first in ORDINARY_WEEKS:
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        spans.append((start, start + timedelta(days=7)))
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


# One step of the walk: (instant in UTC, wall time, wall times the virtual clock passes).
Tick = tuple[datetime, datetime, tuple[datetime, ...]]


def walk(key: str, start: datetime, end: datetime, step: timedelta) -> list[Tick]:
    """Every instant in [start, end], after a warm-up for the virtual clock.

    Every window starts more than a day after the previous offset change, so the
    virtual clock needs only a short warm-up to be right.
    """
    zone = ZoneInfo(key)
    instant = start - timedelta(hours=1)
    virtual = instant.astimezone(zone).replace(tzinfo=None)
    ticks: list[Tick] = []
    while instant < end:
        instant += step
        wall = instant.astimezone(zone).replace(tzinfo=None)
        passed = []
        while virtual < wall:
            virtual += step
            passed.append(virtual)
        if instant >= start:
            ticks.append((instant, wall, tuple(passed)))
    return ticks


@dataclass(frozen=True)
class Walk:
    start: datetime
    end: datetime
    ticks: list[Tick]
    by_hour: dict[int, list[int]]  # hour -> indices of ticks whose wall times show it

    @classmethod
    def of(cls, key: str, start: datetime, end: datetime, step: timedelta) -> Walk:
        ticks = walk(key, start, end, step)
        by_hour: dict[int, list[int]] = {h: [] for h in range(24)}
        for index, (_, wall, passed) in enumerate(ticks):
            for hour in {wall.hour, *(w.hour for w in passed)}:
                by_hour[hour].append(index)
        return cls(start, end, ticks, by_hour)


@functools.cache
def minute_walks(key: str) -> tuple[Walk, ...]:
    return tuple(Walk.of(key, start, end, MINUTE) for start, end in windows(key))


def matches(schedule: CronSchedule, wall: datetime) -> bool:
    """Vixie cron's matching, written out."""
    on_dom = wall.day in schedule.days_of_month
    on_dow = wall.isoweekday() % 7 in schedule.days_of_week
    return (
        wall.second in schedule.seconds
        and wall.minute in schedule.minutes
        and wall.hour in schedule.hours
        and wall.month in schedule.months
        and ((on_dom or on_dow) if schedule.day_or else (on_dom and on_dow))
    )


def oracle(schedule: CronSchedule, walk: Walk) -> list[datetime]:
    """The instants that fire, by the rules above (only those in the expression's hours
    are visited: a shortcut, not a rule)."""
    indices = sorted({i for hour in schedule.hours for i in walk.by_hour[hour]})
    fired: list[datetime] = []
    for instant, wall, passed in (walk.ticks[i] for i in indices):
        candidates = passed if schedule.fixed_time else (wall,)
        if any(matches(schedule, w) for w in candidates):
            fired.append(instant)
    return fired


def chained(schedule: CronSchedule, start: datetime, end: datetime) -> Iterator[datetime]:
    """The implementation's firings in [start, end]."""
    instant = schedule.next_after(start - SECOND)
    while instant is not None and instant <= end:
        yield instant
        instant = schedule.next_after(instant)


@pytest.mark.parametrize("expression", EXPRESSIONS)
@pytest.mark.parametrize("key", ZONES)
def test_next_after_matches_the_oracle(key: str, expression: str) -> None:
    schedule = CronSchedule.parse(expression, key)
    for walk in minute_walks(key):
        assert list(chained(schedule, walk.start, walk.end)) == oracle(schedule, walk), walk.start


def test_the_oracle_sees_the_transitions_it_should() -> None:
    # 2 per year for 7 years where DST is observed; none where it is not.
    assert len(transitions("America/New_York")) == 14
    assert len(transitions("Antarctica/Troll")) == 14
    assert transitions("Asia/Tokyo") == transitions("Asia/Kathmandu") == ()
    assert datetime(2026, 3, 8, 7, tzinfo=UTC) in transitions("America/New_York")


SECONDS_CASES = (
    ("*/20 30 2 * * *", "America/New_York"),  # fixed-time, in the spring gap
    ("*/20 30 1 * * *", "America/New_York"),  # fixed-time, in the repeated hour
    ("0,30 * 2 * * *", "Australia/Lord_Howe"),  # wildcard minute
    ("15 */10 * * * *", "Pacific/Chatham"),
    ("*/7 15 2 * * *", "Australia/Lord_Howe"),
    ("59 59 1 * * *", "Europe/London"),
)


@pytest.mark.parametrize(("expression", "key"), SECONDS_CASES)
def test_six_field_expressions_match_a_second_by_second_oracle(expression: str, key: str) -> None:
    schedule = CronSchedule.parse(expression, key)
    for change in transitions(key)[:4]:
        seconds = Walk.of(key, change - timedelta(hours=3), change + timedelta(hours=3), SECOND)
        assert list(chained(schedule, seconds.start, seconds.end)) == oracle(schedule, seconds)


def field(values: st.SearchStrategy[int], low: int, high: int) -> st.SearchStrategy[str]:
    """A random Vixie field: *, */n, n, a-b, a-b/n, or a list of those."""
    number = values.map(str)
    span = st.tuples(values, values).map(lambda p: f"{min(p)}-{max(p)}")
    stepped = st.tuples(span, st.integers(1, high - low + 1)).map(lambda p: f"{p[0]}/{p[1]}")
    star_step = st.integers(1, high - low + 1).map(lambda n: f"*/{n}")
    item = st.one_of(number, span, stepped, star_step)
    lists = st.lists(item, min_size=1, max_size=3).map(",".join)
    return st.one_of(st.just("*"), star_step, number, span, lists)


EXPRESSION = st.builds(
    " ".join,
    st.tuples(
        field(st.integers(0, 59), 0, 59),
        field(st.integers(0, 4), 0, 23),  # early hours: where the clock changes
        st.one_of(st.just("*"), field(st.integers(1, 31), 1, 31)),
        st.one_of(st.just("*"), st.sampled_from(["3,4,10,11", "9-12", "1-6"])),
        st.one_of(st.just("*"), field(st.integers(0, 7), 0, 7)),
    ),
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    expression=EXPRESSION,
    key=st.sampled_from([k for k in ZONES if transitions(k)]),
    pick=st.integers(0, 13),
)
def test_random_expressions_match_the_oracle(expression: str, key: str, pick: int) -> None:
    try:
        schedule = CronSchedule.parse(expression, key)
    except ValueError:
        return  # random day/month sets that can never fire are rejected at parse
    change = transitions(key)[pick % len(transitions(key))]
    minutes = Walk.of(key, change - timedelta(hours=30), change + timedelta(hours=30), MINUTE)
    assert list(chained(schedule, minutes.start, minutes.end)) == oracle(schedule, minutes)
