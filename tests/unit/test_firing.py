"""The ticker's decisions for one due job: slots, misfires, overlap, jitter."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cronstream_server.core.enums import JobStatus, MisfirePolicy, OverlapPolicy
from cronstream_server.core.firing import (
    CATCHUP_PER_TICK,
    MAX_SKIPPED_RECORDS,
    Outstanding,
    Slot,
    fire,
    fires_ahead,
    jitter_offset,
    unfire,
)
from cronstream_server.core.jobs import (
    MAX_COUNTED_PAUSED_SLOTS,
    Job,
    JobSpec,
    slots_passed_while_paused,
)
from cronstream_server.core.triggers import CronTrigger, IntervalTrigger, OnceTrigger, Trigger

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def job(trigger: Trigger, next_run: datetime, **spec: object) -> Job:
    return Job(
        id="0190aaaa-0000-7000-8000-000000000001",
        platform_id="p",
        spec=JobSpec(name="j", handler_name="h", trigger=trigger, **spec),  # type: ignore[arg-type]
        status=JobStatus.ACTIVE,
        created_by="k",
        created_at=T0 - timedelta(days=1),
        updated_at=T0 - timedelta(days=1),
        next_run=next_run,
    )


EVERY_MINUTE = CronTrigger("* * * * *")


def test_on_time_slot_fires_and_moves_to_the_next() -> None:
    firing = fire(job(EVERY_MINUTE, T0), T0 + timedelta(milliseconds=3))
    assert [(s.at, s.skipped) for s in firing.slots] == [(T0, False)]
    assert (firing.next_run, firing.last_run, firing.runs_count) == (T0 + MINUTE, T0, 1)
    assert firing.status is JobStatus.ACTIVE


def test_a_busy_tick_is_not_a_misfire() -> None:
    firing = fire(job(EVERY_MINUTE, T0), T0 + timedelta(seconds=59))
    assert [s.skipped for s in firing.slots] == [False]


def test_once_job_fires_even_late_and_completes() -> None:
    firing = fire(job(OnceTrigger(T0), T0), T0 + timedelta(hours=5))
    assert [(s.at, s.skipped) for s in firing.slots] == [(T0, False)]
    assert firing.next_run is None and firing.status is JobStatus.COMPLETED


def test_interval_stops_at_max_runs() -> None:
    trigger = IntervalTrigger(every=timedelta(seconds=10), start_at=T0, max_runs=3)
    ticked = replace(job(trigger, T0 + timedelta(seconds=20)), runs_count=2)
    firing = fire(ticked, T0 + timedelta(seconds=20))
    assert [s.at for s in firing.slots] == [T0 + timedelta(seconds=20)]
    assert firing.next_run is None and firing.status is JobStatus.COMPLETED


def test_run_once_after_downtime_runs_the_latest_missed_slot_once() -> None:
    now = T0 + timedelta(minutes=12, seconds=30)
    firing = fire(job(EVERY_MINUTE, T0), now)
    run = [s.at for s in firing.slots if not s.skipped]
    skipped = [s.at for s in firing.slots if s.skipped]
    # Slots 12:00 .. 12:12 are due; 12:12 is on time (30 s late), the 12 before it are late.
    assert run == [T0 + 12 * MINUTE]
    assert skipped == [T0 + i * MINUTE for i in range(12)]
    assert firing.next_run == T0 + 13 * MINUTE


def test_run_once_without_on_time_slot_runs_the_newest_late_one() -> None:
    every_five = CronTrigger("*/5 * * * *")
    firing = fire(job(every_five, T0), T0 + 22 * MINUTE)  # 12:20 is two minutes late
    assert [s.at for s in firing.slots if not s.skipped] == [T0 + 20 * MINUTE]
    assert [s.at for s in firing.slots if s.skipped] == [T0 + i * 5 * MINUTE for i in range(4)]
    assert firing.slots[0].note == "missed: ran once for all missed slots"
    assert firing.next_run == T0 + 25 * MINUTE


def test_skip_policy_records_every_missed_slot() -> None:
    spec = {"misfire_policy": MisfirePolicy.SKIP}
    firing = fire(job(EVERY_MINUTE, T0, **spec), T0 + timedelta(minutes=6, seconds=30))
    assert [s.at for s in firing.slots if s.skipped] == [T0 + i * MINUTE for i in range(6)]
    assert [s.at for s in firing.slots if not s.skipped] == [T0 + 6 * MINUTE]  # on time
    assert firing.slots[0].note == "missed while no replica was running"
    assert firing.next_run == T0 + 7 * MINUTE


def test_run_all_is_paced_and_bounded_by_the_catchup_window() -> None:
    spec = {"misfire_policy": MisfirePolicy.RUN_ALL, "catchup_window": timedelta(minutes=30)}
    now = T0 + timedelta(hours=1)
    firing = fire(job(EVERY_MINUTE, T0, **spec), now)
    run = [s.at for s in firing.slots if not s.skipped]
    skipped = [s.at for s in firing.slots if s.skipped]
    assert skipped == [T0 + i * MINUTE for i in range(30)]  # older than 30 minutes
    assert run == [T0 + i * MINUTE for i in range(30, 30 + CATCHUP_PER_TICK)]
    assert firing.next_run == T0 + (30 + CATCHUP_PER_TICK) * MINUTE  # the next tick goes on


def test_skipped_records_are_capped_with_a_count() -> None:
    spec = {"misfire_policy": MisfirePolicy.SKIP}
    firing = fire(job(EVERY_MINUTE, T0, **spec), T0 + timedelta(days=1, seconds=30))
    skipped = [s for s in firing.slots if s.skipped]
    assert len(skipped) == MAX_SKIPPED_RECORDS  # of the 1440 late slots
    assert skipped[0].note == "missed while no replica was running (and 1340 earlier slots)"
    assert [s.at for s in firing.slots if not s.skipped] == [T0 + timedelta(days=1)]
    assert firing.next_run == T0 + timedelta(days=1, minutes=1)


@pytest.mark.parametrize(
    ("policy", "outstanding", "expected_run", "cancel", "buffered"),
    [
        (OverlapPolicy.ALLOW, Outstanding(running=1), True, False, 0),
        (OverlapPolicy.SKIP, Outstanding(running=1), False, False, 0),
        (OverlapPolicy.SKIP, Outstanding(pending=1), False, False, 0),
        (OverlapPolicy.SKIP, Outstanding(), True, False, 0),
        (OverlapPolicy.BUFFER_ONE, Outstanding(running=1), True, False, 1),
        (OverlapPolicy.BUFFER_ONE, Outstanding(running=1, buffered=1), False, False, 0),
        (OverlapPolicy.BUFFER_ONE, Outstanding(), True, False, 0),
        (OverlapPolicy.CANCEL_PREVIOUS, Outstanding(running=1), True, True, 0),
        (OverlapPolicy.CANCEL_PREVIOUS, Outstanding(), True, False, 0),
    ],
)
def test_overlap_policies(
    policy: OverlapPolicy, outstanding: Outstanding, expected_run: bool, cancel: bool, buffered: int
) -> None:
    firing = fire(job(EVERY_MINUTE, T0, overlap_policy=policy), T0, outstanding)
    assert [not s.skipped for s in firing.slots] == [expected_run]
    assert firing.cancel_outstanding is cancel
    assert len(firing.buffered) == buffered


def test_jitter_is_deterministic_and_bounded() -> None:
    jitter = timedelta(seconds=30)
    offsets = {jitter_offset("job-a", T0 + i * MINUTE, jitter) for i in range(200)}
    assert all(timedelta(0) <= o < jitter for o in offsets)
    assert len(offsets) > 150  # spread, not constant
    assert jitter_offset("job-a", T0, jitter) == jitter_offset("job-a", T0, jitter)
    assert jitter_offset("job-a", T0, jitter) != jitter_offset("job-b", T0, jitter)
    assert jitter_offset("job-a", T0, timedelta(0)) == timedelta(0)


def test_dst_gap_slot_fires_at_the_jump() -> None:
    trigger = CronTrigger("30 2 * * *", "America/New_York")
    march_7 = datetime(2026, 3, 7, 7, 30, tzinfo=UTC)  # 02:30 EST
    firing = fire(job(trigger, march_7), march_7)
    assert firing.next_run == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT


# --- firing ahead -------------------------------------------------------------

SECOND = timedelta(seconds=1)
EVERY_SECOND = CronTrigger("* * * * * *")


def test_a_slot_within_the_horizon_fires_ahead_and_on_time() -> None:
    firing = fire(job(EVERY_SECOND, T0), T0 - SECOND / 2, horizon=T0 + SECOND / 10)

    assert firing.slots == [Slot(T0)]  # not late, not skipped: it fires at its instant
    assert firing.next_run == T0 + SECOND
    assert firing.last_run == T0


def test_the_horizon_reaches_every_slot_before_it() -> None:
    firing = fire(job(EVERY_SECOND, T0), T0, horizon=T0 + 2 * SECOND)

    assert [s.at for s in firing.slots] == [T0, T0 + SECOND, T0 + 2 * SECOND]
    assert firing.next_run == T0 + 3 * SECOND


@pytest.mark.parametrize(
    "policy", [OverlapPolicy.SKIP, OverlapPolicy.BUFFER_ONE, OverlapPolicy.CANCEL_PREVIOUS]
)
def test_a_job_that_waits_on_its_runs_never_fires_ahead(policy: OverlapPolicy) -> None:
    """Whether the previous run is still going is only known at the instant."""
    waiting = job(EVERY_SECOND, T0, overlap_policy=policy)

    assert not fires_ahead(waiting)
    firing = fire(waiting, T0 - SECOND / 2, horizon=T0 + SECOND)
    assert firing.slots == []
    assert firing.next_run == T0


def test_a_once_job_fired_ahead_is_completed() -> None:
    firing = fire(job(OnceTrigger(T0), T0), T0 - SECOND, horizon=T0)

    assert firing.slots == [Slot(T0)]
    assert firing.status is JobStatus.COMPLETED and firing.next_run is None


def test_unfire_puts_a_job_back_before_its_withdrawn_slots() -> None:
    before = replace(job(EVERY_SECOND, T0), runs_count=7, executions_count=7, last_run=T0 - SECOND)
    fired = fire(before, T0 - SECOND / 2, horizon=T0 + SECOND)
    after = replace(
        before,
        next_run=fired.next_run,
        last_run=fired.last_run,
        runs_count=fired.runs_count,
        executions_count=9,
    )

    restored = unfire(after, [T0 + SECOND, T0], T0 - SECOND)

    assert restored == before


def test_unfire_revives_a_once_job_completed_by_its_slot() -> None:
    completed = replace(
        job(OnceTrigger(T0), T0),
        next_run=None,
        last_run=T0,
        runs_count=1,
        executions_count=1,
        status=JobStatus.COMPLETED,
        completed_at=T0 - SECOND,
    )

    restored = unfire(completed, [T0], None)

    assert restored.status is JobStatus.ACTIVE and restored.completed_at is None
    assert restored.next_run == T0 and restored.last_run is None
    assert restored.runs_count == 0 and restored.executions_count == 0


def test_unfire_without_slots_changes_nothing() -> None:
    paused = replace(job(EVERY_SECOND, T0), status=JobStatus.PAUSED)

    assert unfire(paused, [], None) is paused


def test_slots_a_pause_passed_are_counted_up_to_the_limit() -> None:
    paused = replace(job(EVERY_MINUTE, T0), status=JobStatus.PAUSED)
    # Paused before 12:00; resumed at 12:03:30: 12:00, 12:01, 12:02 and 12:03 passed.
    assert slots_passed_while_paused(paused, T0 + timedelta(minutes=3, seconds=30)) == 4
    assert slots_passed_while_paused(paused, T0) == 0  # resumed before its next run
    every_second = job(IntervalTrigger(timedelta(seconds=1), start_at=T0), T0)
    a_day = T0 + timedelta(days=1)
    assert slots_passed_while_paused(every_second, a_day) == MAX_COUNTED_PAUSED_SLOTS
    assert slots_passed_while_paused(job(OnceTrigger(T0), T0), a_day) == 0  # it still runs
