"""Next-run computation for every trigger kind: the engine's and PreviewSchedule's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cronstream_server.core.cron import CronExpressionError, TimezoneError
from cronstream_server.core.triggers import (
    CronTrigger,
    EventTrigger,
    IntervalTrigger,
    OnceTrigger,
    Trigger,
    TriggerError,
    first_run,
    next_run,
    preview,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


NOW = utc(2026, 5, 1, 12)
HOUR = timedelta(hours=1)


def chained(trigger: Trigger, now: datetime, limit: int = 50) -> list[datetime]:
    """What the engine fires: first_run, then next_run after each slot."""
    slots: list[datetime] = []
    slot = first_run(trigger, now)
    while slot is not None and len(slots) < limit:
        slots.append(slot)
        slot = next_run(trigger, slot, len(slots))
    return slots


def test_interval_grid_stops_at_end_at_inclusive() -> None:
    trigger = IntervalTrigger(HOUR, start_at=NOW, end_at=NOW + 3 * HOUR, max_runs=None)
    assert chained(trigger, NOW) == [NOW, NOW + HOUR, NOW + 2 * HOUR, NOW + 3 * HOUR]


def test_interval_grid_stops_after_max_runs() -> None:
    trigger = IntervalTrigger(HOUR, start_at=NOW, end_at=None, max_runs=3)
    assert chained(trigger, NOW) == [NOW, NOW + HOUR, NOW + 2 * HOUR]


def test_interval_stops_when_the_engine_has_run_max_runs_times() -> None:
    trigger = IntervalTrigger(HOUR, start_at=NOW, end_at=None, max_runs=3)
    assert next_run(trigger, NOW + HOUR, runs_so_far=3) is None
    assert next_run(trigger, NOW + HOUR, runs_so_far=1) == NOW + 2 * HOUR


def test_interval_next_run_snaps_to_the_grid() -> None:
    trigger = IntervalTrigger(HOUR, start_at=NOW, end_at=None, max_runs=None)
    assert next_run(trigger, NOW + timedelta(minutes=90), 1) == NOW + 2 * HOUR
    assert next_run(trigger, NOW - timedelta(days=1), 0) == NOW


def test_interval_is_real_time_across_dst() -> None:
    # 24 real hours apart, so the New York wall time moves by an hour on Mar 8.
    start = datetime(2026, 3, 7, 12, tzinfo=ZoneInfo("America/New_York"))
    trigger = IntervalTrigger(timedelta(days=1), start_at=start, end_at=None, max_runs=3)
    assert chained(trigger, start) == [
        utc(2026, 3, 7, 17),
        utc(2026, 3, 8, 17),
        utc(2026, 3, 9, 17),
    ]


def test_interval_preview_counts_max_runs_from_start_at() -> None:
    trigger = IntervalTrigger(HOUR, start_at=NOW, end_at=None, max_runs=5)
    assert preview(trigger, NOW + timedelta(minutes=150), 10) == [NOW + 3 * HOUR, NOW + 4 * HOUR]
    assert preview(trigger, NOW - HOUR, 2) == [NOW, NOW + HOUR]
    assert preview(trigger, NOW, 2) == [NOW + HOUR, NOW + 2 * HOUR]  # strictly after


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every": timedelta(0)}, "every must be positive"),
        ({"every": -HOUR}, "every must be positive"),
        ({"end_at": NOW - HOUR}, "end_at is before start_at"),
        ({"max_runs": 0}, "max_runs must be at least 1"),
        ({"start_at": datetime(2026, 5, 1)}, "start_at must be timezone-aware"),
    ],
)
def test_interval_rejects_nonsense(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"every": HOUR, "start_at": NOW, "end_at": None, "max_runs": None}
    with pytest.raises(TriggerError, match=message):
        IntervalTrigger(**(fields | kwargs))  # type: ignore[arg-type]


def test_once_fires_once_even_when_past() -> None:
    past = OnceTrigger(NOW - HOUR)
    assert first_run(past, NOW) == NOW - HOUR
    assert next_run(past, NOW - HOUR, 1) is None
    assert preview(past, NOW, 5) == []
    future = OnceTrigger(NOW + HOUR)
    assert chained(future, NOW) == [NOW + HOUR]
    assert preview(future, NOW, 5) == [NOW + HOUR]
    assert preview(future, NOW, 0) == []


def test_once_is_stored_in_utc() -> None:
    berlin = datetime(2026, 5, 1, 14, tzinfo=ZoneInfo("Europe/Berlin"))
    assert OnceTrigger(berlin).run_at == NOW
    assert OnceTrigger(berlin).run_at.tzinfo is UTC


def test_event_never_fires_on_a_clock() -> None:
    trigger = EventTrigger("invoice.paid")
    assert first_run(trigger, NOW) is None
    assert next_run(trigger, NOW, 1) is None
    assert preview(trigger, NOW, 5) == []


def test_cron_first_run_is_strictly_after_now() -> None:
    trigger = CronTrigger("0 12 * * *", "UTC")
    assert first_run(trigger, NOW) == utc(2026, 5, 2, 12)
    assert preview(trigger, NOW, 2) == [utc(2026, 5, 2, 12), utc(2026, 5, 3, 12)]


def test_cron_preview_follows_the_dst_rules() -> None:
    trigger = CronTrigger("30 2 * * *", "America/New_York")
    assert preview(trigger, utc(2026, 3, 7, 12), 2) == [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)]


def test_cron_trigger_validates_on_construction() -> None:
    with pytest.raises(CronExpressionError):
        CronTrigger("61 * * * *", "UTC")
    with pytest.raises(TimezoneError):
        CronTrigger("* * * * *", "../../etc/passwd")


def test_naive_times_are_refused() -> None:
    with pytest.raises(TriggerError, match="aware"):
        first_run(CronTrigger("* * * * *"), datetime(2026, 5, 1))
    with pytest.raises(TriggerError, match="aware"):
        OnceTrigger(datetime(2026, 5, 1))
    with pytest.raises(TriggerError, match="negative"):
        preview(CronTrigger("* * * * *"), NOW, -1)


TRIGGERS = st.one_of(
    st.builds(
        CronTrigger,
        st.sampled_from(["*/7 * * * *", "30 2 * * *", "0 1 * * 0", "0 0 29 2 *", "@hourly"]),
        st.sampled_from(["UTC", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]),
    ),
    st.builds(
        IntervalTrigger,
        st.integers(1, 10**6).map(lambda s: timedelta(seconds=s)),
        st.just(NOW),
        st.one_of(st.none(), st.integers(0, 10**7).map(lambda s: NOW + timedelta(seconds=s))),
        st.one_of(st.none(), st.integers(1, 30)),
    ),
    st.builds(OnceTrigger, st.integers(-(10**6), 10**6).map(lambda s: NOW + timedelta(seconds=s))),
    st.builds(EventTrigger, st.just("deploy")),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(trigger=TRIGGERS, count=st.integers(0, 20))
def test_preview_equals_chained_next_run(trigger: Trigger, count: int) -> None:
    fired = chained(trigger, NOW, limit=count + 1)
    after_now = [slot for slot in fired if slot > NOW][:count]
    assert preview(trigger, NOW, count) == after_now


@settings(max_examples=200, deadline=None, derandomize=True)
@given(trigger=TRIGGERS, count=st.integers(0, 20), end=st.integers(1, 10**7))
def test_preview_before_an_end_is_the_preview_cut_there(
    trigger: Trigger, count: int, end: int
) -> None:
    before = NOW + timedelta(seconds=end)
    cut = [slot for slot in preview(trigger, NOW, count) if slot < before]
    assert preview(trigger, NOW, count, before) == cut
    # Strictly before: an end on a slot leaves that slot out.
    if cut:
        assert preview(trigger, NOW, count, cut[-1]) == cut[:-1]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(trigger=TRIGGERS)
def test_never_earlier_than_the_previous_slot(trigger: Trigger) -> None:
    slots = chained(trigger, NOW, limit=30)
    assert slots == sorted(set(slots))
    assert all(slot.tzinfo is UTC for slot in slots)
