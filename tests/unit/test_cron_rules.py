"""The cron rules users rely on, one real case at a time (docs/time.md has the prose)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim
from cronstream_server.core.cron import CronExpressionError, CronSchedule, TimezoneError
from hypothesis import given, settings
from hypothesis import strategies as st


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def firings(expression: str, zone: str, after: datetime, count: int) -> list[datetime]:
    schedule = CronSchedule.parse(expression, zone)
    found: list[datetime] = []
    cursor: datetime | None = after
    while len(found) < count and cursor is not None:
        cursor = schedule.next_after(cursor)
        if cursor is not None:
            found.append(cursor)
    return found


CASES = [
    pytest.param(
        "30 2 * * *",
        "America/New_York",
        utc(2026, 3, 7, 12),
        [utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)],
        id="NY spring forward: 02:30 does not exist, fires at the jump, 03:00 EDT",
    ),
    pytest.param(
        "30 1 * * *",
        "America/New_York",
        utc(2026, 10, 31, 12),
        [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)],
        id="NY fall back: 01:30 happens twice, fires once, at 01:30 EDT",
    ),
    pytest.param(
        "30 1 * * *",
        "America/New_York",
        utc(2026, 11, 1, 6, 10),
        [utc(2026, 11, 2, 6, 30)],
        id="NY fall back: from inside the repeated hour, no second 01:30",
    ),
    pytest.param(
        "0 2,3 * * *",
        "America/New_York",
        utc(2026, 3, 8, 5),
        [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6)],
        id="NY spring forward: skipped 02:00 and real 03:00 fire once together",
    ),
    pytest.param(
        "0 * * * *",
        "America/New_York",
        utc(2026, 3, 8, 4, 30),
        [utc(2026, 3, 8, 5), utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), utc(2026, 3, 8, 8)],
        id="hourly through spring forward: every 60 real minutes",
    ),
    pytest.param(
        "0 * * * *",
        "America/New_York",
        utc(2026, 11, 1, 4, 30),
        [utc(2026, 11, 1, 5), utc(2026, 11, 1, 6), utc(2026, 11, 1, 7)],
        id="hourly through fall back: 01:00 EDT and 01:00 EST both fire",
    ),
    pytest.param(
        "* 2 * * *",
        "America/New_York",
        utc(2026, 3, 8, 5),
        [utc(2026, 3, 9, 6, 0), utc(2026, 3, 9, 6, 1)],
        id="every minute of 2 o'clock: nothing on a day without one",
    ),
    pytest.param(
        "*/30 1 * * *",
        "America/New_York",
        utc(2026, 11, 1, 5),
        [utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6), utc(2026, 11, 1, 6, 30)],
        id="a step is a wildcard: the repeated 01:xx runs again",
    ),
    pytest.param(
        "15 2 * * *",
        "Australia/Lord_Howe",
        utc(2026, 10, 3, 12),
        [utc(2026, 10, 3, 15, 30), utc(2026, 10, 4, 15, 15)],
        id="Lord Howe half-hour jump 02:00->02:30: 02:15 fires at 02:30 local",
    ),
    pytest.param(
        "15 0 * * *",
        "America/Santiago",
        utc(2026, 9, 5, 12),
        [utc(2026, 9, 6, 4), utc(2026, 9, 7, 3, 15)],
        id="Santiago jumps at midnight: 00:15 fires at 01:00 -03",
    ),
    pytest.param(
        "15 0 * * *",
        "America/Havana",
        utc(2026, 10, 31, 12),
        [utc(2026, 11, 1, 4, 15), utc(2026, 11, 2, 5, 15)],
        id="Havana repeats 00:xx: 00:15 fires once, at -04",
    ),
    pytest.param(
        "30 2 * * *",
        "Africa/Casablanca",
        utc(2026, 2, 14, 12),
        [utc(2026, 2, 15, 1, 30), utc(2026, 2, 16, 2, 30)],
        id="Casablanca Ramadan: clocks go back at 03:00, 02:30 fires once",
    ),
    pytest.param(
        "0 9 * * *",
        "Asia/Kathmandu",
        utc(2026, 1, 1),
        [utc(2026, 1, 1, 3, 15)],
        id="Kathmandu +05:45",
    ),
    pytest.param(
        "0 9 * * *",
        "Pacific/Chatham",
        utc(2026, 7, 1),
        [utc(2026, 7, 1, 20, 15)],
        id="Chatham +12:45 in winter",
    ),
    pytest.param(
        "0 9 * * *",
        "America/St_Johns",
        utc(2026, 1, 1),
        [utc(2026, 1, 1, 12, 30)],
        id="St John's -03:30",
    ),
    pytest.param(
        "0 0 13 * MON",
        "UTC",
        utc(2026, 2, 1),
        [utc(2026, 2, 2), utc(2026, 2, 9), utc(2026, 2, 13), utc(2026, 2, 16)],
        id="both day fields restricted: the 13th OR a Monday",
    ),
    pytest.param(
        "0 0 */10 * MON",
        "UTC",
        utc(2026, 1, 1),
        [utc(2026, 5, 11), utc(2026, 6, 1)],
        id="a day field starting with * makes it AND: 1,11,21,31 that are Mondays",
    ),
    pytest.param(
        "0 0 29 2 *",
        "UTC",
        utc(2026, 1, 1),
        [utc(2028, 2, 29), utc(2032, 2, 29)],
        id="Feb 29 fires in leap years only",
    ),
    pytest.param(
        "0 12 29 2 *",
        "UTC",
        utc(2096, 3, 1),
        [utc(2104, 2, 29, 12)],
        id="2100 is not a leap year",
    ),
    pytest.param(
        "0 0 29 2 */7",
        "UTC",
        utc(2088, 3, 1),
        [utc(2128, 2, 29)],
        id="Feb 29 that is a Sunday: 40 years apart across 2100",
    ),
    pytest.param(
        "0 0 31 * *",
        "UTC",
        utc(2026, 4, 1),
        [utc(2026, 5, 31), utc(2026, 7, 31), utc(2026, 8, 31), utc(2026, 10, 31)],
        id="day 31 only in long months",
    ),
    pytest.param(
        "*/20 * * * * *",
        "UTC",
        utc(2026, 5, 1, 12, 0, 5),
        [utc(2026, 5, 1, 12, 0, 20), utc(2026, 5, 1, 12, 0, 40), utc(2026, 5, 1, 12, 1)],
        id="6 fields: a leading seconds field",
    ),
    pytest.param(
        "30 15 10 * * *",
        "UTC",
        utc(2026, 5, 1),
        [utc(2026, 5, 1, 10, 15, 30), utc(2026, 5, 2, 10, 15, 30)],
        id="6 fields: second minute hour",
    ),
    pytest.param(
        "0 9 * JAN,jul MON-FRI",
        "UTC",
        utc(2026, 1, 30),
        [utc(2026, 1, 30, 9), utc(2026, 7, 1, 9)],
        id="month and weekday names, any case, in lists and ranges",
    ),
    pytest.param(
        "0 0 * * 7",
        "UTC",
        utc(2026, 5, 13),
        [utc(2026, 5, 17), utc(2026, 5, 24)],
        id="7 is Sunday",
    ),
]


@pytest.mark.parametrize(("expression", "zone", "after", "expected"), CASES)
def test_firings(expression: str, zone: str, after: datetime, expected: list[datetime]) -> None:
    assert firings(expression, zone, after, len(expected)) == expected


def test_lord_howe_gap_fires_at_half_past_two_local() -> None:
    (fired,) = firings("15 2 * * *", "Australia/Lord_Howe", utc(2026, 10, 3, 12), 1)
    local = fired.astimezone(ZoneInfo("Australia/Lord_Howe"))
    assert (local.day, local.hour, local.minute) == (4, 2, 30)


@pytest.mark.parametrize(
    ("start", "end"),
    [(utc(2026, 3, 7, 12), utc(2026, 3, 9)), (utc(2026, 10, 31, 12), utc(2026, 11, 2))],
)
def test_hourly_keeps_sixty_minute_spacing_through_transitions(
    start: datetime, end: datetime
) -> None:
    times = [t for t in firings("0 * * * *", "America/New_York", start, 40) if t < end]
    assert {b - a for a, b in zip(times, times[1:], strict=False)} == {timedelta(hours=1)}


def test_nothing_at_two_on_new_york_spring_forward_day() -> None:
    zone = ZoneInfo("America/New_York")
    times = firings("* 2 * * *", "America/New_York", utc(2026, 3, 7, 5), 120)
    assert len(times) == 120
    assert {t.astimezone(zone).date().isoformat() for t in times} == {"2026-03-07", "2026-03-09"}


NICKNAMES = [
    ("@hourly", utc(2026, 5, 13, 11), False),
    ("@daily", utc(2026, 5, 14), True),
    ("@midnight", utc(2026, 5, 14), True),
    ("@weekly", utc(2026, 5, 17), True),
    ("@monthly", utc(2026, 6, 1), True),
    ("@yearly", utc(2027, 1, 1), True),
    ("@annually", utc(2027, 1, 1), True),
    ("@Daily", utc(2026, 5, 14), True),
]


@pytest.mark.parametrize(("nickname", "expected", "fixed"), NICKNAMES)
def test_nicknames(nickname: str, expected: datetime, fixed: bool) -> None:
    schedule = CronSchedule.parse(nickname)
    assert schedule.next_after(utc(2026, 5, 13, 10, 20)) == expected  # a Wednesday
    assert schedule.fixed_time is fixed


@pytest.mark.parametrize(
    ("expression", "fixed"),
    [
        ("30 2 * * *", True),
        ("0,30 1-3 * * *", True),
        ("0-59/15 2 * * *", True),  # Debian looks at the first character only
        ("*/5 2 * * *", False),
        ("0 */2 * * *", False),
        ("0 * * * *", False),
        ("* 30 2 * * *", True),  # the seconds field does not count
        ("0 30 * * * *", False),
    ],
)
def test_fixed_time_or_wildcard(expression: str, fixed: bool) -> None:
    assert CronSchedule.parse(expression).fixed_time is fixed


def test_field_sets() -> None:
    assert CronSchedule.parse("5-5/2 * * * *").minutes == {5}  # Vixie: a loop from 5 to 5
    schedule = CronSchedule.parse("1-10/3 */6 1,15,31 FEB-APR 5-7")
    assert schedule.seconds == {0}
    assert schedule.minutes == {1, 4, 7, 10}
    assert schedule.hours == {0, 6, 12, 18}
    assert schedule.days_of_month == {1, 15, 31}
    assert schedule.months == {2, 3, 4}
    assert schedule.days_of_week == {5, 6, 0}
    assert schedule.day_or is True
    assert CronSchedule.parse("0 0 * * */2").days_of_week == {0, 2, 4, 6}
    assert CronSchedule.parse("0 0 * * *").day_or is False


ERRORS = [
    ("1 2 3 4", "expected 5 fields (or 6 with seconds), got 4"),
    ("", "expected 5 fields (or 6 with seconds), got 0"),
    ("* * * * * * *", "expected 5 fields (or 6 with seconds), got 7"),
    ("61 * * * *", "minute field: 61 is out of range 0-59"),
    ("* 24 * * *", "hour field: 24 is out of range 0-23"),
    ("* * 0 * *", "day-of-month field: 0 is out of range 1-31"),
    ("* * * 13 *", "month field: 13 is out of range 1-12"),
    ("* * * * 8", "day-of-week field: 8 is out of range 0-7"),
    ("60 * * * * *", "second field: 60 is out of range 0-59"),
    ("99999999999 * * * *", "minute field: 99999999999 is out of range 0-59"),
    ("* * * FOO *", "month field: 'FOO' is not a month name or number"),
    ("* * * * MONDAY", "day-of-week field: 'MONDAY' is not a day-of-week name or number"),
    ("x * * * *", "minute field: 'x' is not a number"),
    ("*/0 * * * *", "minute field: step must be a positive whole number, got '0'"),
    ("5/10 * * * *", "minute field: a step needs * or a range before it"),
    ("10-5 * * * *", "minute field: range 10-5 is backwards"),
    ("-5 * * * *", "minute field: '-5' is not a valid range"),
    ("1,,2 * * * *", "minute field: empty item in '1,,2'"),
    ("0 0 30 2 *", "never fires: day 30 does not occur in FEB"),
    ("0 0 31 4,6,9,11 *", "never fires: day 31 does not occur in APR,JUN,SEP,NOV"),
    ("0 0 30 2 */2", "never fires: day 30 does not occur in FEB"),
    ("@reboot", "@reboot is not supported"),
    ("@fortnightly", "unknown nickname '@fortnightly'"),
    ("0 0 L * *", "day-of-month field: 'L' is not a number"),
    ("* " * 500 + "*", "expression is longer than 1000 characters"),
]


@pytest.mark.parametrize(("expression", "message"), ERRORS)
def test_bad_expressions(expression: str, message: str) -> None:
    with pytest.raises(CronExpressionError) as caught:
        CronSchedule.parse(expression)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)


def test_feb_30_is_fine_when_a_weekday_can_match() -> None:
    # Both day fields restricted: "the 30th or a Monday", so Mondays in February.
    assert firings("0 0 30 2 MON", "UTC", utc(2026, 1, 1), 1) == [utc(2026, 2, 2)]


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ("Mars/Olympus_Mons", "unknown timezone 'Mars/Olympus_Mons'"),
        ("utc", "unknown timezone 'utc'"),
        ("../../etc/passwd", "timezone '../../etc/passwd' looks like a file path"),
        ("/etc/localtime", "timezone '/etc/localtime' looks like a file path"),
        ("/usr/share/zoneinfo/UTC", "timezone '/usr/share/zoneinfo/UTC' looks like a file path"),
        ("Europe/../UTC", "timezone 'Europe/../UTC' looks like a file path"),
        ("Europe\\Berlin", "timezone 'Europe\\\\Berlin' looks like a file path"),
        ("UTC\0", "timezone 'UTC\\x00' looks like a file path"),
    ],
)
def test_bad_timezones(zone: str, message: str) -> None:
    with pytest.raises(TimezoneError) as caught:
        CronSchedule.parse("* * * * *", zone)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)


def test_empty_timezone_is_utc() -> None:
    assert CronSchedule.parse("0 0 * * *", "").timezone == "UTC"
    assert CronSchedule.parse("0 0 * * *").timezone == "UTC"


def test_after_may_be_in_any_zone_and_must_be_aware() -> None:
    schedule = CronSchedule.parse("0 12 * * *", "Europe/Berlin")
    tokyo = datetime(2026, 6, 1, 19, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # 10:30Z
    assert schedule.next_after(tokyo) == utc(2026, 6, 2, 10)
    fixed = datetime(2026, 6, 1, 11, 59, 59, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert schedule.next_after(fixed) == utc(2026, 6, 1, 10)
    with pytest.raises(ValueError, match="aware"):
        schedule.next_after(datetime(2026, 6, 1))


def test_next_after_is_strict_and_whole_seconds() -> None:
    schedule = CronSchedule.parse("0 12 * * *")
    assert schedule.next_after(utc(2026, 6, 1, 12)) == utc(2026, 6, 2, 12)
    assert schedule.next_after(utc(2026, 6, 1, 11, 59, 59, 999999)) == utc(2026, 6, 1, 12)


def test_no_firing_past_the_end_of_the_calendar() -> None:
    assert CronSchedule.parse("0 0 29 2 *").next_after(utc(9999, 3, 1)) is None
    assert CronSchedule.parse("* * * * *").next_after(datetime.max.replace(tzinfo=UTC)) is None
    assert CronSchedule.parse("0 0 1 1 *").next_after(datetime.min.replace(tzinfo=UTC)) == utc(
        10, 1, 1
    )


def test_schedules_are_values() -> None:
    first, second = CronSchedule.parse("0 0 * * *"), CronSchedule.parse("0 0 * * *")
    assert first == second and hash(first) == hash(second)


def field_text(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    span = st.tuples(value, value).map(lambda p: f"{min(p)}-{max(p)}")
    # cronsim reads a stepped one-value range "5-5/2" as "5-max/2"; Vixie's loop gives {5}.
    wide = st.tuples(value, value).filter(lambda p: p[0] != p[1]).map(sorted)
    item = st.one_of(
        value.map(str),
        span,
        st.tuples(wide, st.integers(1, 9)).map(lambda p: f"{p[0][0]}-{p[0][1]}/{p[1]}"),
        st.integers(1, 9).map(lambda n: f"*/{n}"),
        st.just("*"),
    )
    return st.lists(item, min_size=1, max_size=3).map(",".join)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.tuples(
        field_text(0, 59),
        field_text(0, 59),
        field_text(0, 23),
        field_text(1, 31),
        field_text(1, 12),
        field_text(0, 7),
    )
)
def test_field_sets_agree_with_cronsim(fields: tuple[str, ...]) -> None:
    """cronsim parses Vixie syntax independently: the sets must agree."""
    try:
        ours = CronSchedule.parse(" ".join(fields))
    except CronExpressionError as error:
        assert str(error).startswith("never fires")
        return
    theirs = CronSim(" ".join(fields), datetime(2026, 1, 1))
    assert ours.seconds == theirs.seconds
    assert ours.minutes == theirs.minutes
    assert ours.hours == theirs.hours
    assert ours.days_of_month == theirs.days
    assert ours.months == theirs.months
    assert ours.days_of_week == {d % 7 for d in theirs.weekdays if isinstance(d, int)}
    assert ours.day_or is not theirs.day_and


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    expression=st.sampled_from(["30 2 * * *", "0 * * * *", "*/7 1,2 * * *", "59 23 * * 0"]),
    zone=st.sampled_from(["America/New_York", "Australia/Lord_Howe", "Europe/London"]),
    after=st.datetimes(datetime(2026, 1, 1), datetime(2032, 12, 31), timezones=st.just(UTC)),
)
def test_never_at_or_before_after(expression: str, zone: str, after: datetime) -> None:
    schedule = CronSchedule.parse(expression, zone)
    first = schedule.next_after(after)
    assert first is not None and first > after
    second = schedule.next_after(first)
    assert second is not None and second > first
