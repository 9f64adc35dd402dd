"""PreviewSchedule's marks and summary (core.clock_marks, core.schedule_preview) on
real dates: what the clock does to each instant, as docs/time.md's rules say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cronstream_server.core.clock_marks import (
    CLOCK_CHANGES_LIMIT,
    SKIPPED_WALL_TIMES_LIMIT,
    SKIPPED_WALL_TIMES_TOTAL,
    ClockChange,
)
from cronstream_server.core.cron import CronSchedule, OffsetChange, offset_changes
from cronstream_server.core.schedule_preview import (
    Preview,
    PreviewRange,
    predicted_overlaps,
    preview,
)
from cronstream_server.core.triggers import CronTrigger, IntervalTrigger, OnceTrigger, Trigger

EST, EDT = -5 * 3600, -4 * 3600
NEW_YORK = "America/New_York"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def run(
    trigger: Trigger, start: datetime, count: int = 1000, end: datetime | None = None
) -> Preview:
    return preview(trigger, PreviewRange(start, count, end))


def marks(result: Preview) -> list[tuple[datetime, str, int, str | None, bool]]:
    return [
        (
            m.time,
            m.local_time.isoformat(),
            m.utc_offset_seconds,
            m.scheduled_wall_time,
            m.repeated_hour,
        )
        for m in result.instants
    ]


# --- jump forward ------------------------------------------------------------------


def test_a_fixed_time_in_the_spring_gap_is_shifted_to_the_jump() -> None:
    got = run(CronTrigger("30 2 * * *", NEW_YORK), utc(2026, 3, 7), count=3)
    assert marks(got) == [
        (utc(2026, 3, 7, 7, 30), "2026-03-07T02:30:00-05:00", EST, None, False),
        (utc(2026, 3, 8, 7), "2026-03-08T03:00:00-04:00", EDT, "02:30", False),
        (utc(2026, 3, 9, 6, 30), "2026-03-09T02:30:00-04:00", EDT, None, False),
    ]
    assert got.instants[1].shifted and not got.instants[0].shifted
    # Nothing is lost: the shifted firing stands for 02:30.
    assert got.clock_changes == (ClockChange(utc(2026, 3, 8, 7), EST, EDT, ()),)
    assert got.times == [m.time for m in got.instants]


def test_a_wildcard_job_lists_the_skipped_hour_and_is_not_shifted() -> None:
    got = run(CronTrigger("*/30 * * * *", NEW_YORK), utc(2026, 3, 8, 6), end=utc(2026, 3, 8, 8))
    assert [(m.time, m.shifted) for m in got.instants] == [
        (utc(2026, 3, 8, 6, 30), False),  # 01:30 EST
        (utc(2026, 3, 8, 7), False),  # 03:00 EDT, a match in its own right
        (utc(2026, 3, 8, 7, 30), False),
    ]
    assert got.clock_changes[0].skipped_wall_times == ("2026-03-08T02:00", "2026-03-08T02:30")


def test_a_fixed_job_names_its_first_gap_time_and_lists_the_merged_ones() -> None:
    got = run(CronTrigger("0,30 2 * * *", NEW_YORK), utc(2026, 3, 8), end=utc(2026, 3, 9))
    assert marks(got) == [(utc(2026, 3, 8, 7), "2026-03-08T03:00:00-04:00", EDT, "02:00", False)]
    assert got.clock_changes[0].skipped_wall_times == ("2026-03-08T02:30",)
    # 02:00 and the real 03:00 fire once, at the jump: 03:00 is not skipped.
    both = run(CronTrigger("0 2,3 * * *", NEW_YORK), utc(2026, 3, 8), end=utc(2026, 3, 9))
    assert [(m.time, m.scheduled_wall_time) for m in both.instants] == [
        (utc(2026, 3, 8, 7), "02:00")
    ]
    assert both.clock_changes[0].skipped_wall_times == ()


def test_an_expression_with_seconds_shows_them() -> None:
    got = run(CronTrigger("*/20 30 2 * * *", NEW_YORK), utc(2026, 3, 8), end=utc(2026, 3, 9))
    assert [(m.time, m.scheduled_wall_time) for m in got.instants] == [
        (utc(2026, 3, 8, 7), "02:30:00")
    ]
    assert got.clock_changes[0].skipped_wall_times == (
        "2026-03-08T02:30:20",
        "2026-03-08T02:30:40",
    )


def test_an_every_second_job_lists_the_first_hundred_skipped_seconds() -> None:
    got = run(CronTrigger("* * * * * *", NEW_YORK), utc(2026, 3, 8, 6, 59, 59), count=2)
    assert got.times == [utc(2026, 3, 8, 7), utc(2026, 3, 8, 7, 0, 1)]
    skipped = got.clock_changes[0].skipped_wall_times
    assert len(skipped) == SKIPPED_WALL_TIMES_LIMIT == 100  # of 3,600
    assert (skipped[0], skipped[-1]) == ("2026-03-08T02:00:00", "2026-03-08T02:01:39")


def test_skipped_wall_times_are_bounded_over_all_changes() -> None:
    # Wildcard, every second of 02:xx on the second Sunday of March: New York's
    # skipped hour, so it never fires; 3,600 skipped wall times every year.
    got = run(CronTrigger("* * 2 8-14 3 */7", NEW_YORK), utc(2026, 1, 1), end=utc(2041, 1, 1))
    assert got.times == [] and not got.truncated
    assert len(got.clock_changes) == 30  # to end_time: nothing fires to end the range sooner
    march = [c for c in got.clock_changes if c.at.month == 3]
    assert [len(c.skipped_wall_times) for c in march] == [100] * 10 + [0] * 5
    assert SKIPPED_WALL_TIMES_TOTAL == 1000
    assert march[9].skipped_wall_times[0] == "2035-03-11T02:00:00"


def test_clock_changes_stop_at_a_century_and_instants_do_not() -> None:
    yearly = run(CronTrigger("0 0 1 1 *", NEW_YORK), utc(2026, 1, 1), count=10)
    # 2026-01-01 to 2035-01-01: nine years of two changes.
    assert len(yearly.times) == 10 and len(yearly.clock_changes) == 18
    millennium = run(CronTrigger("0 0 1 1 *", NEW_YORK), utc(2026, 1, 1), count=1000)
    assert len(millennium.times) == 1000  # `times` as before: the cap is on changes only
    assert len(millennium.clock_changes) == CLOCK_CHANGES_LIMIT == 200
    assert millennium.clock_changes[-1].at == utc(2125, 11, 4, 6)


def test_a_cut_preview_lists_the_changes_up_to_its_last_instant() -> None:
    # 1,000 seconds from 2026-03-08T06:50Z: the range asked reaches 2027, but the
    # preview stops at 07:06:40Z, past the March change and long before November's.
    got = run(CronTrigger("* * * * * *", NEW_YORK), utc(2026, 3, 8, 6, 50), end=utc(2027, 1, 1))
    assert got.truncated and got.times[-1] == utc(2026, 3, 8, 7, 6, 40)
    assert [c.at for c in got.clock_changes] == [utc(2026, 3, 8, 7)]


def test_lord_howe_half_hour_jump() -> None:
    got = run(CronTrigger("15 2 * * *", "Australia/Lord_Howe"), utc(2026, 10, 3), count=2)
    assert marks(got)[0] == (
        utc(2026, 10, 3, 15, 30),
        "2026-10-04T02:30:00+11:00",
        11 * 3600,
        "02:15",
        False,
    )
    assert got.clock_changes == (ClockChange(utc(2026, 10, 3, 15, 30), 37800, 39600, ()),)


# --- jump back ---------------------------------------------------------------------


def test_a_wildcard_job_fires_twice_in_the_repeated_hour_both_marked() -> None:
    got = run(
        CronTrigger("*/30 * * * *", NEW_YORK), utc(2026, 11, 1, 4, 45), end=utc(2026, 11, 1, 7, 15)
    )
    assert marks(got) == [
        (utc(2026, 11, 1, 5), "2026-11-01T01:00:00-04:00", EDT, None, True),
        (utc(2026, 11, 1, 5, 30), "2026-11-01T01:30:00-04:00", EDT, None, True),
        (utc(2026, 11, 1, 6), "2026-11-01T01:00:00-05:00", EST, None, True),
        (utc(2026, 11, 1, 6, 30), "2026-11-01T01:30:00-05:00", EST, None, True),
        (utc(2026, 11, 1, 7), "2026-11-01T02:00:00-05:00", EST, None, False),
    ]
    assert got.clock_changes == (ClockChange(utc(2026, 11, 1, 6), EDT, EST, ()),)


def test_a_fixed_time_in_the_repeated_hour_fires_once_and_lists_the_second() -> None:
    got = run(CronTrigger("30 1 * * *", NEW_YORK), utc(2026, 10, 31, 12), count=2)
    assert marks(got) == [
        (utc(2026, 11, 1, 5, 30), "2026-11-01T01:30:00-04:00", EDT, None, False),
        (utc(2026, 11, 2, 6, 30), "2026-11-02T01:30:00-05:00", EST, None, False),
    ]
    assert got.clock_changes == (ClockChange(utc(2026, 11, 1, 6), EDT, EST, ("2026-11-01T01:30",)),)


# --- triggers without a zone, and the summary --------------------------------------


def test_interval_and_once_triggers_are_shown_in_utc_unmarked() -> None:
    start = utc(2026, 3, 7, 12)
    interval = IntervalTrigger(every=timedelta(hours=12), start_at=start)
    got = run(interval, start - timedelta(seconds=1), end=utc(2026, 3, 9))
    assert marks(got) == [
        (
            start + timedelta(hours=12 * k),
            (start + timedelta(hours=12 * k)).isoformat(),
            0,
            None,
            False,
        )
        for k in range(3)
    ]
    assert got.instants[0].local_time.isoformat() == "2026-03-07T12:00:00+00:00"
    assert got.clock_changes == ()
    once = run(OnceTrigger(utc(2026, 11, 1, 6)), utc(2026, 1, 1))
    assert [(m.local_time.isoformat(), m.repeated_hour) for m in once.instants] == [
        ("2026-11-01T06:00:00+00:00", False)
    ]


def test_months_are_the_trigger_zones_calendar() -> None:
    # 23:00 in New York is 04:00Z the next day: the 31st still counts for January.
    got = run(CronTrigger("0 23 * * *", NEW_YORK), utc(2026, 1, 29, 12), count=4)
    assert [m.local_time.day for m in got.instants] == [29, 30, 31, 1]
    assert got.instants_per_month == (("2026-01", 3), ("2026-02", 1))


def test_truncated_says_whether_instants_were_left_out() -> None:
    daily = CronTrigger("0 12 * * *")
    assert run(daily, utc(2026, 1, 1), count=3).truncated
    assert run(daily, utc(2026, 1, 1), count=3, end=utc(2026, 1, 4, 12)).truncated is False
    assert run(daily, utc(2026, 1, 1), count=3, end=utc(2026, 1, 4, 12, 0, 1)).truncated
    assert run(OnceTrigger(utc(2026, 2, 1)), utc(2026, 1, 1), count=1).truncated is False


def test_clock_changes_run_to_end_time_or_to_the_last_instant() -> None:
    noon = CronTrigger("0 12 * * *", NEW_YORK)
    # Two instants before the change of 2026-03-08T07:00Z: it is not crossed.
    assert run(noon, utc(2026, 3, 6), count=2).clock_changes == ()
    assert [c.at for c in run(noon, utc(2026, 3, 6), count=3).clock_changes] == [utc(2026, 3, 8, 7)]
    # An end_time past the change crosses it, even with no instant after it.
    to_end = run(noon, utc(2026, 3, 6), count=2, end=utc(2026, 3, 8, 8))
    assert [c.at for c in to_end.clock_changes] == [utc(2026, 3, 8, 7)]
    assert run(noon, utc(2026, 3, 6), end=utc(2026, 3, 8, 7)).clock_changes == ()
    year = run(noon, utc(2026, 1, 1), end=utc(2027, 1, 1))
    assert [(c.at, c.offset_after_seconds) for c in year.clock_changes] == [
        (utc(2026, 3, 8, 7), EDT),
        (utc(2026, 11, 1, 6), EST),
    ]
    assert len(year.instants) == 365


def test_predicted_overlaps_count_instants_sooner_than_p95() -> None:
    half_hours = [utc(2026, 1, 1) + timedelta(minutes=30 * k) for k in range(5)]
    assert predicted_overlaps(half_hours, timedelta(minutes=31)) == 4
    assert predicted_overlaps(half_hours, timedelta(minutes=30)) == 0  # ends as the next starts
    assert predicted_overlaps(half_hours[:1], timedelta(days=1)) == 0
    # Across a jump forward the gap between firings shrinks: 02:30 EST, then 03:00 EDT.
    shifted = run(CronTrigger("30 2 * * *", NEW_YORK), utc(2026, 3, 7), count=3)
    assert [b - a for a, b in zip(shifted.times, shifted.times[1:], strict=False)] == [
        timedelta(hours=23, minutes=30),
        timedelta(hours=23, minutes=30),
    ]
    with_p95 = preview(
        CronTrigger("*/10 * * * *"), PreviewRange(utc(2026, 1, 1), 6), timedelta(minutes=15)
    )
    assert (with_p95.p95_duration, with_p95.predicted_overlaps) == (timedelta(minutes=15), 5)
    assert run(CronTrigger("*/10 * * * *"), utc(2026, 1, 1), count=6).predicted_overlaps == 0


# --- the small pure functions cron.py gained -------------------------------------


def test_offset_changes_are_the_zones_transitions() -> None:
    assert offset_changes(NEW_YORK, utc(2026, 1, 1), utc(2027, 1, 1), 10) == [
        OffsetChange(utc(2026, 3, 8, 7), EST, EDT),
        OffsetChange(utc(2026, 11, 1, 6), EDT, EST),
    ]
    # (after, until]: a change at `after` is out, one at `until` in.
    assert offset_changes(NEW_YORK, utc(2026, 3, 8, 7), utc(2026, 3, 9), 10) == []
    assert len(offset_changes(NEW_YORK, utc(2026, 3, 8), utc(2026, 3, 8, 7), 10)) == 1
    assert offset_changes("UTC", utc(2026, 1, 1), utc(2030, 1, 1), 10) == []


def test_named_wall_time_and_wall_times() -> None:
    fixed = CronSchedule.parse("30 2 * * *", NEW_YORK)
    assert fixed.named_wall_time(utc(2026, 3, 8, 7)) == datetime(2026, 3, 8, 2, 30)
    assert fixed.named_wall_time(utc(2026, 3, 9, 6, 30)) == datetime(2026, 3, 9, 2, 30)
    wildcard = CronSchedule.parse("*/30 * * * *", NEW_YORK)
    assert wildcard.named_wall_time(utc(2026, 11, 1, 6)) == datetime(2026, 11, 1, 1)
    # What the expression names, whether the clock shows it or not.
    assert wildcard.wall_times(datetime(2026, 3, 8, 2), datetime(2026, 3, 8, 3), 10) == [
        datetime(2026, 3, 8, 2),
        datetime(2026, 3, 8, 2, 30),
    ]
    assert len(wildcard.wall_times(datetime(2026, 1, 1), datetime(2026, 2, 1), 7)) == 7
    assert CronSchedule.parse("0 * * * * *").has_seconds_field
    assert not CronSchedule.parse("0 * * * *").has_seconds_field
    assert not CronSchedule.parse("@daily").has_seconds_field
