"""Cron expressions and when they fire, with Debian cron's rules for clock changes.

Pure: no I/O beyond reading the tz database through `zoneinfo`.

The rules (docs/time.md explains why they are Debian's):

* Matching is Vixie cron's: a wall time matches when its second, minute, hour and
  month are in their sets and its day matches. When both day fields are restricted
  (neither starts with `*`) either may match; otherwise both must.
* A *wildcard job* (its minute or hour field starts with `*`, as in `*`, `*/15`,
  `@hourly`) fires at every real instant whose wall time matches: twice in a repeated
  hour, never in a skipped one.
* Every other job is a *fixed-time job*. It fires when the zone's clock first shows a
  matching wall time. Debian cron keeps a "virtual clock": the latest wall time it has
  seen. A fixed-time job fires at instant `t` when a matching wall time lies in
  `(virtual clock before t, virtual clock at t]`. So a time skipped by a jump forward
  fires once, at the first instant after the jump, and a time shown again after a
  jump backward does not fire again.

Debian treats jumps of 3 hours or more as clock corrections, not DST. A zone's offset
change is never a correction, so the rules above apply to every transition whatever its
size; no tz-database transition from 2024 on is that large.
"""

from __future__ import annotations

import functools
import itertools
import time
import zoneinfo
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from cronstream_server.core.values import value_type

__all__ = ["CronExpressionError", "CronSchedule", "OffsetChange", "TimezoneError", "offset_changes"]


class CronExpressionError(ValueError):
    """The expression is malformed, or can never fire."""


class TimezoneError(ValueError):
    """The timezone is not an IANA zone name known to this server."""


_MAX_EXPRESSION_LENGTH = 1000
_NICKNAMES: Mapping[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# February counts 29 days: an expression for Feb 29 fires, in leap years.
_LONGEST_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@value_type
class _Field:
    name: str
    low: int
    high: int
    names: Mapping[str, int]


_SECOND = _Field("second", 0, 59, {})
_MINUTE = _Field("minute", 0, 59, {})
_HOUR = _Field("hour", 0, 23, {})
_DOM = _Field("day-of-month", 1, 31, {})
_MONTH = _Field("month", 1, 12, {n: i + 1 for i, n in enumerate(_MONTH_NAMES)})
# Vixie accepts 0-7 with both ends meaning Sunday; 7 is folded into 0 after parsing.
_DOW = _Field("day-of-week", 0, 7, {n: i for i, n in enumerate(_DAY_NAMES)})
_FIELDS = (_SECOND, _MINUTE, _HOUR, _DOM, _MONTH, _DOW)


def _parse_value(text: str, spec: _Field) -> int:
    upper = text.upper()
    if upper in spec.names:
        return spec.names[upper]
    if not (text.isascii() and text.isdigit()):
        kind = f"a {spec.name} name or number" if spec.names else "a number"
        raise CronExpressionError(f"{spec.name} field: {text!r} is not {kind}")
    value = int(text) if len(text) <= 6 else spec.high + 1
    if not spec.low <= value <= spec.high:
        raise CronExpressionError(
            f"{spec.name} field: {text} is out of range {spec.low}-{spec.high}"
        )
    return value


def _parse_item(item: str, spec: _Field) -> range:
    """One list item: `*`, `N`, `N-M`, `*/S` or `N-M/S` (Vixie's grammar, no `N/S`)."""
    span, slash, step_text = item.partition("/")
    if span == "*":
        first, last = spec.low, spec.high
    elif "-" in span:
        start_text, _, end_text = span.partition("-")
        if not start_text or not end_text:
            raise CronExpressionError(f"{spec.name} field: {item!r} is not a valid range")
        first, last = _parse_value(start_text, spec), _parse_value(end_text, spec)
        if first > last:
            raise CronExpressionError(f"{spec.name} field: range {span} is backwards")
    elif slash:
        raise CronExpressionError(
            f"{spec.name} field: a step needs * or a range before it, as in */{step_text} "
            f"or {span}-{spec.high}/{step_text}; got {item!r}"
        )
    else:
        first = last = _parse_value(span, spec)
    step = 1
    if slash:
        if not (step_text.isascii() and step_text.isdigit()) or int(step_text) == 0:
            raise CronExpressionError(
                f"{spec.name} field: step must be a positive whole number, got {step_text!r}"
            )
        step = int(step_text)
    return range(first, last + 1, step)


def _parse_field(text: str, spec: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronExpressionError(f"{spec.name} field: empty item in {text!r}")
        values.update(_parse_item(item, spec))
    if spec is _DOW and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


def _split_fields(expression: str) -> list[str]:
    if len(expression) > _MAX_EXPRESSION_LENGTH:
        raise CronExpressionError(f"expression is longer than {_MAX_EXPRESSION_LENGTH} characters")
    stripped = expression.strip()
    if stripped.startswith("@"):
        nickname = stripped.lower()
        if nickname == "@reboot":
            raise CronExpressionError("@reboot is not supported: use a once trigger instead")
        if nickname not in _NICKNAMES:
            known = ", ".join(_NICKNAMES)
            raise CronExpressionError(f"unknown nickname {stripped!r}; use one of {known}")
        return ["0", *_NICKNAMES[nickname].split()]
    fields = stripped.split()
    if len(fields) not in (5, 6):
        raise CronExpressionError(f"expected 5 fields (or 6 with seconds), got {len(fields)}")
    return fields if len(fields) == 6 else ["0", *fields]


def _check_can_fire(days: frozenset[int], months: frozenset[int], day_or: bool) -> None:
    """Rejects day/month sets that no calendar date satisfies.

    With either-day matching the weekday alone can match. Otherwise a valid (month, day)
    pair is enough: over a 28-year cycle every such date falls on every weekday.
    """
    if day_or or any(d <= _LONGEST_MONTH[m] for m in months for d in days):
        return
    day_list = ",".join(str(d) for d in sorted(days))
    month_list = ",".join(_MONTH_NAMES[m - 1] for m in sorted(months))
    raise CronExpressionError(f"never fires: day {day_list} does not occur in {month_list}")


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _load_zone(name: str) -> tuple[str, ZoneInfo]:
    """Only names from the tz database's list: `ZoneInfo` would open any file path."""
    key = name or "UTC"
    if key.startswith("/") or ".." in key or "\\" in key or "\0" in key:
        raise TimezoneError(f"timezone {name!r} looks like a file path, not an IANA zone name")
    if key not in _known_zones():
        raise TimezoneError(
            f"unknown timezone {name!r}; use an IANA zone name such as 'Europe/Berlin'"
        )
    return key, ZoneInfo(key)


def _ceilings(values: frozenset[int], size: int) -> tuple[int, ...]:
    """For each v < size, the smallest member >= v, or -1: a field's 'next value' table."""
    table: list[int] = []
    following = -1
    for v in reversed(range(size)):
        if v in values:
            following = v
        table.append(following)
    return tuple(reversed(table))


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ONE_SECOND = timedelta(seconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The longest gap between firings of a valid expression is 40 years (Feb 29 on a set
# weekday, as in `0 0 29 2 */7`, across a non-leap 2100); past 50, give up.
_HORIZON = 50 * 366 * 86400
# Searches stay inside years 10-9999 so that look-backs and year ends stay in datetime's range.
_FIRST_INSTANT = (date(10, 1, 1).toordinal() - _EPOCH_ORDINAL) * 86400
_LAST_INSTANT = (date(9999, 12, 1).toordinal() - _EPOCH_ORDINAL) * 86400
_PROBE_STEP = 12 * 3600  # transitions are never closer than ~4 days in any zone
_LOOKBACK = 2 * 86400  # > 26 h, the widest spread of UTC offsets


def _seconds(y: int, mo: int, d: int, h: int, mi: int, s: int) -> int:
    """Seconds since 1970-01-01T00:00 of a calendar time (wall or UTC alike)."""
    return (date(y, mo, d).toordinal() - _EPOCH_ORDINAL) * 86400 + h * 3600 + mi * 60 + s


def _days_in_month(y: int, mo: int) -> int:
    if mo != 2:
        return _LONGEST_MONTH[mo]
    return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28


@value_type
class _Tables:
    """Lookup tables derived from the field sets, so matching does no set arithmetic."""

    second: tuple[int, ...]
    minute: tuple[int, ...]
    hour: tuple[int, ...]
    month: tuple[int, ...]
    dom: tuple[bool, ...]
    dow: tuple[bool, ...]
    every_day: bool
    zone: ZoneInfo


@value_type
class CronSchedule:
    """A parsed cron expression in a timezone. Build it with `CronSchedule.parse`."""

    expression: str
    timezone: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]  # 0 = Sunday
    day_or: bool  # both day fields restricted: either may match (Vixie)
    fixed_time: bool  # neither minute nor hour field starts with `*`
    _tables: _Tables = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        days, weekdays = self.days_of_month, self.days_of_week
        tables = _Tables(
            second=_ceilings(self.seconds, 61),
            minute=_ceilings(self.minutes, 61),
            hour=_ceilings(self.hours, 25),
            month=_ceilings(self.months, 14),
            dom=tuple(d in days for d in range(32)),
            dow=tuple(d in weekdays for d in range(7)),
            every_day=len(days) == 31 and len(weekdays) == 7,
            zone=_load_zone(self.timezone)[1],
        )
        object.__setattr__(self, "_tables", tables)

    @classmethod
    def parse(cls, expression: str, timezone: str = "UTC") -> CronSchedule:
        """Parses 5 fields (minute hour day-of-month month day-of-week), 6 with a
        leading seconds field, or a nickname such as `@daily`.

        Raises `CronExpressionError` for a malformed expression or one that can never
        fire, and `TimezoneError` for a timezone outside the tz database ("" is UTC).
        """
        key, _ = _load_zone(timezone)
        sec, minute, hour, dom, month, dow = _split_fields(expression)
        parsed = [
            _parse_field(text, spec)
            for text, spec in zip((sec, minute, hour, dom, month, dow), _FIELDS, strict=True)
        ]
        day_or = not dom.startswith("*") and not dow.startswith("*")
        _check_can_fire(parsed[3], parsed[4], day_or)
        return cls(
            expression=expression,
            timezone=key,
            seconds=parsed[0],
            minutes=parsed[1],
            hours=parsed[2],
            days_of_month=parsed[3],
            months=parsed[4],
            days_of_week=parsed[5],
            day_or=day_or,
            fixed_time=not minute.startswith("*") and not hour.startswith("*"),
        )

    def next_after(self, after: datetime) -> datetime | None:
        """The first firing instant strictly after `after` (an aware datetime), in UTC.

        None when nothing fires within 50 years: past the end of the calendar, or a
        wildcard job whose only matching wall times a DST jump always skips.
        """
        if after.utcoffset() is None:
            raise ValueError("next_after needs an aware datetime")
        start = max((after - _EPOCH) // _ONE_SECOND + 1, _FIRST_INSTANT)
        limit = min(start + _HORIZON, _LAST_INSTANT)
        found = self._first_firing(start, limit) if start <= limit else None
        return None if found is None else datetime.fromtimestamp(found, UTC)

    @property
    def has_seconds_field(self) -> bool:
        """Whether the expression was written with a leading seconds field."""
        stripped = self.expression.strip()
        return not stripped.startswith("@") and len(stripped.split()) == 6

    def named_wall_time(self, instant: datetime) -> datetime:
        """The wall time (naive, in the zone) that a firing at `instant` stands for.

        A wildcard job's firing stands for its own wall time. A fixed-time job's stands
        for the first matching wall time the virtual clock moves past at `instant`:
        earlier than the instant's own wall time when a jump forward skipped it (the
        rule in the module docstring, as `next_after` applies it). `instant` must be a
        firing instant, such as one `next_after` returned.
        """
        at = (instant - _EPOCH) // _ONE_SECOND
        wall = at + _offset(self._tables.zone, at)
        if self.fixed_time:
            high = _high_water(self.timezone, self._tables.zone, at - 1)
            named = self._next_wall(high + 1, wall)
            return _naive(wall if named is None else named)
        return _naive(wall)

    def wall_times(self, first: datetime, before: datetime, limit: int) -> list[datetime]:
        """Up to `limit` matching wall times in [first, before), naive, in order:
        the wall times the expression names, whether or not the zone's clock shows
        them and whatever the DST rules make of them."""
        found: list[datetime] = []
        cursor, end = _wall_seconds(first), _wall_seconds(before) - 1
        while len(found) < limit and (wall := self._next_wall(cursor, end)) is not None:
            found.append(_naive(wall))
            cursor = wall + 1
        return found

    def _first_firing(self, start: int, limit: int) -> int | None:
        """The first firing instant in [start, limit], as epoch seconds.

        Walks the zone's constant-offset segments; in each, one search of the wall-time
        sets finds the candidate, and the candidate stands unless an offset change comes
        first, in which case the search resumes at that change.
        """
        zone = self._tables.zone
        high = _high_water(self.timezone, zone, start - 1) if self.fixed_time else 0
        while True:
            offset = _offset(zone, start)
            hit = self._first_in_segment(start, limit, offset, high)
            change = _next_transition(self.timezone, start, limit if hit is None else hit)
            if change is None:
                return hit
            high = max(high, change - 1 + offset)
            start = change

    def _first_in_segment(self, start: int, limit: int, offset: int, high: int) -> int | None:
        """The first firing in [start, limit], assuming the offset holds throughout.

        `high` is the virtual clock (latest wall time shown) just before `start`.
        """
        if not self.fixed_time:
            wall = self._next_wall(start + offset, limit + offset)
            return None if wall is None else wall - offset
        wall = self._next_wall(high + 1, limit + offset)
        if wall is None:
            return None
        # A match the clock jumped over (or `start`'s own wall time) fires at `start`.
        return start if wall <= start + offset else wall - offset

    def _next_wall(self, start: int, limit: int) -> int | None:
        """The first matching wall time in [start, limit], both as wall epoch seconds.

        Field by field, jumping to the next allowed value; an overflowing field (hour
        24, minute 60...) finds no ceiling and carries into the field above.
        """
        if start > limit:
            return None
        t = self._tables
        y, mo, d, h, mi, s = time.gmtime(start)[:6]
        last = time.gmtime(limit)
        last_month = last.tm_year * 16 + last.tm_mon
        while y * 16 + mo <= last_month:
            if (month := t.month[mo]) != mo:
                if month < 0:
                    y, mo, d, h, mi, s = y + 1, 1, 1, 0, 0, 0
                else:
                    mo, d, h, mi, s = month, 1, 0, 0, 0
                continue
            if (day := self._day_ceiling(y, mo, d)) != d:
                if day == 0:
                    mo, d, h, mi, s = mo + 1, 1, 0, 0, 0
                else:
                    d, h, mi, s = day, 0, 0, 0
                continue
            if (hour := t.hour[h]) != h:
                d, h, mi, s = (d + 1, 0, 0, 0) if hour < 0 else (d, hour, 0, 0)
                continue
            if (minute := t.minute[mi]) != mi:
                h, mi, s = (h + 1, 0, 0) if minute < 0 else (h, minute, 0)
                continue
            if (second := t.second[s]) < 0:
                mi, s = mi + 1, 0
                continue
            wall = _seconds(y, mo, d, h, mi, second)
            return wall if wall <= limit else None
        return None

    def _day_ceiling(self, y: int, mo: int, d: int) -> int:
        """The first matching day >= d in the month, or 0."""
        t = self._tables
        last = _days_in_month(y, mo)
        if d > last:
            return 0
        if t.every_day:
            return d
        weekday = date(y, mo, d).isoweekday() % 7  # cron numbering: 0 = Sunday
        for day in range(d, last + 1):
            on_dom, on_dow = t.dom[day], t.dow[(weekday + day - d) % 7]
            if (on_dom or on_dow) if self.day_or else (on_dom and on_dow):
                return day
        return 0


@value_type
class OffsetChange:
    """A change of a zone's UTC offset: from `at` on, the offset is `after`."""

    at: datetime  # UTC
    before: int  # seconds east of UTC
    after: int


def offset_changes(
    timezone: str, after: datetime, until: datetime, limit: int
) -> list[OffsetChange]:
    """The zone's first `limit` offset changes in (after, until], in order: the very
    transitions `next_after` works with. Raises `TimezoneError` as `parse` does.

    Finding a year's transitions costs ~2 ms the first time, so the search stops
    at `limit` rather than at `until` when that comes first.
    """
    key, zone = _load_zone(timezone)
    low = max((after - _EPOCH) // _ONE_SECOND, _FIRST_INSTANT)
    high = min((until - _EPOCH) // _ONE_SECOND, _LAST_INSTANT)
    if low >= high:
        return []
    return [
        OffsetChange(datetime.fromtimestamp(at, UTC), _offset(zone, at - 1), _offset(zone, at))
        for at in itertools.islice(_transitions(key, low, high), limit)
    ]


def _naive(wall: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(seconds=wall)


def _wall_seconds(wall: datetime) -> int:
    return (wall.replace(tzinfo=None) - datetime(1970, 1, 1)) // _ONE_SECOND


def _offset(zone: ZoneInfo, instant: int) -> int:
    """The zone's UTC offset at an instant, in seconds."""
    delta = datetime.fromtimestamp(instant, zone).utcoffset()
    return 0 if delta is None else delta // _ONE_SECOND


@functools.lru_cache(maxsize=16384)
def _transitions_in_year(key: str, year: int) -> tuple[int, ...]:
    """Instants in the UTC year at which the zone's offset changes.

    zoneinfo does not expose its transitions, so this probes the offset every 12 hours
    and bisects each change down to the second. Computed once per zone and year.
    """
    zone = ZoneInfo(key)
    begin, end = _seconds(year, 1, 1, 0, 0, 0), _seconds(year, 12, 31, 23, 59, 59) + 1
    found: list[int] = []
    before, before_offset = begin - 1, _offset(zone, begin - 1)
    for probe in (*range(begin - 1 + _PROBE_STEP, end - 1, _PROBE_STEP), end - 1):
        probe_offset = _offset(zone, probe)
        if probe_offset != before_offset:
            found.append(_bisect_change(zone, before, probe))
        before, before_offset = probe, probe_offset
    return tuple(found)


def _bisect_change(zone: ZoneInfo, low: int, high: int) -> int:
    """The instant in (low, high] where the offset changes, given exactly one change."""
    low_offset = _offset(zone, low)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(zone, middle) == low_offset:
            low = middle
        else:
            high = middle
    return high


def _transitions(key: str, after: int, until: int) -> Iterator[int]:
    """Transition instants in (after, until], in order."""
    for year in range(time.gmtime(after).tm_year, time.gmtime(until).tm_year + 1):
        instants = _transitions_in_year(key, year)
        yield from instants[bisect_right(instants, after) : bisect_right(instants, until)]


def _next_transition(key: str, after: int, until: int) -> int | None:
    return next(_transitions(key, after, until), None)


def _high_water(key: str, zone: ZoneInfo, instant: int) -> int:
    """Debian's virtual clock: the latest wall time the zone has shown up to `instant`.

    Only the last two days can matter: older wall times are lower than any current one.
    """
    high = instant + _offset(zone, instant)
    for change in _transitions(key, instant - _LOOKBACK, instant):
        high = max(high, change - 1 + _offset(zone, change - 1))
    return high
