"""Pausing until an instant, and the bulk calls' selectors: core rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cronstream_server.core.enums import JobStatus
from cronstream_server.core.errors import FailedPrecondition, FieldViolation
from cronstream_server.core.firing import fire
from cronstream_server.core.jobs import (
    Job,
    JobSpec,
    cancel,
    check_until,
    pause,
    paused_slot_counter,
    resume,
    resume_by_itself,
    slots_passed_while_paused,
)
from cronstream_server.core.selection import (
    DEFAULT_LIMIT,
    JobSelector,
    bulk_limit,
    check_selector,
)
from cronstream_server.core.signals import JobsDue, jobs_changed
from cronstream_server.core.triggers import CronTrigger, OnceTrigger, Trigger

NINE = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TEN = NINE + timedelta(hours=1)
HOURLY = CronTrigger("0 * * * *")


def job(trigger: Trigger = HOURLY, next_run: datetime = NINE) -> Job:
    return Job(
        id="0190aaaa-0000-7000-8000-000000000001",
        platform_id="p",
        spec=JobSpec(name="j", handler_name="h", trigger=trigger),
        status=JobStatus.ACTIVE,
        created_by="k",
        created_at=NINE - timedelta(days=1),
        updated_at=NINE - timedelta(days=1),
        next_run=next_run,
    )


def test_a_pause_keeps_its_until_and_a_second_pause_sets_it_anew() -> None:
    at = NINE - timedelta(minutes=5)
    first = pause(job(), at, TEN)
    assert (first.status, first.paused_until, first.next_run) == (JobStatus.PAUSED, TEN, NINE)
    assert pause(first, at, TEN + timedelta(hours=1)).paused_until == TEN + timedelta(hours=1)
    assert pause(first, at).paused_until is None  # until ResumeJob


def test_resume_and_cancel_clear_the_until() -> None:
    paused = pause(job(), NINE, TEN)
    assert resume(paused, NINE + timedelta(minutes=30)).paused_until is None
    assert cancel(paused, NINE).paused_until is None
    with pytest.raises(FailedPrecondition):
        pause(cancel(paused, NINE), NINE, TEN)


def test_resuming_by_itself_runs_the_slot_at_until() -> None:
    # Paused at 08:55 "until 10:00": 09:00 passed while paused; 10:00 runs.
    paused = pause(job(), NINE - timedelta(minutes=5), TEN)
    woke = TEN + timedelta(milliseconds=4)

    resumed = resume_by_itself(paused, woke)

    assert (resumed.status, resumed.next_run) == (JobStatus.ACTIVE, TEN)
    assert (resumed.paused_until, resumed.updated_at) == (None, woke)
    assert slots_passed_while_paused(paused, TEN) == 1  # 09:00, counted as skipped
    # A manual ResumeJob at the same moment would pass over 10:00 too.
    assert resume(paused, woke).next_run == TEN + timedelta(hours=1)


def test_a_late_self_resume_leaves_the_slots_after_until_to_the_misfire_policy() -> None:
    paused = pause(job(), NINE - timedelta(minutes=5), TEN)
    late = TEN + timedelta(hours=2, minutes=30)  # no replica ran from 10:00 to 12:30

    resumed = resume_by_itself(paused, late)

    assert resumed.next_run == TEN
    # run_once (the default): the ticker runs the latest slot and skips 10:00 and 11:00.
    slots = fire(resumed, late).slots
    assert [(s.at, s.skipped) for s in slots] == [
        (TEN, True),
        (TEN + timedelta(hours=1), True),
        (TEN + timedelta(hours=2), False),
    ]


def test_a_slot_still_ahead_of_until_stays_and_a_once_job_keeps_its_instant() -> None:
    later = pause(job(next_run=TEN + timedelta(hours=3)), NINE, TEN)
    assert resume_by_itself(later, TEN).next_run == TEN + timedelta(hours=3)
    once = pause(job(OnceTrigger(NINE), NINE), NINE - timedelta(minutes=1), TEN)
    assert resume_by_itself(once, TEN).next_run == NINE  # a due once-job still runs


def test_until_must_be_in_the_future() -> None:
    violations: list[FieldViolation] = []
    check_until(violations, "until", NINE, NINE)
    check_until(violations, "until", NINE + timedelta(microseconds=1), NINE)
    assert violations == [FieldViolation("until", "must be in the future")]


def test_tickers_hear_of_the_earliest_until_as_of_the_earliest_next_run() -> None:
    paused = pause(job(next_run=NINE), NINE, TEN + timedelta(hours=1))
    active = job(next_run=TEN)
    assert jobs_changed([paused]) == (JobsDue(TEN + timedelta(hours=1)),)
    assert jobs_changed([paused, active]) == (JobsDue(TEN),)
    assert jobs_changed([pause(job(), NINE)]) == ()  # until ResumeJob: nothing to wake for


@pytest.mark.parametrize(
    ("selector", "fields"),
    [
        (JobSelector(), ["selector"]),
        (JobSelector(all=True, tags=("a",)), ["selector"]),
        (JobSelector(tags=("a", "")), ["selector.tags[1]"]),
        (JobSelector(name_prefix="x\x00"), ["selector.name_prefix"]),
        (JobSelector(all=True), []),
        (JobSelector(handler_name="h", name_prefix="nightly-"), []),
    ],
)
def test_a_selector_names_jobs_on_purpose(selector: JobSelector, fields: list[str]) -> None:
    violations: list[FieldViolation] = []
    check_selector(violations, "selector", selector)
    assert [v.field for v in violations] == fields


def test_the_limit_defaults_to_a_thousand_and_stays_within_ten_thousand() -> None:
    violations: list[FieldViolation] = []
    assert bulk_limit(violations, "limit", 0) == DEFAULT_LIMIT == 1_000
    assert bulk_limit(violations, "limit", 10_000) == 10_000
    assert violations == []
    bulk_limit(violations, "limit", 10_001)
    bulk_limit(violations, "limit", -1)
    assert [v.field for v in violations] == ["limit", "limit"]


@pytest.mark.parametrize("minutes", [1, 8, 9, 40, 41, 168, 169, 1500])
def test_paused_slots_are_counted_exactly_across_batches(minutes: int) -> None:
    paused = pause(job(CronTrigger("* * * * *"), NINE), NINE)
    # Resumed half a minute after the last slot passed: `minutes` slots from 09:00.
    resumed_at = NINE + timedelta(minutes=minutes - 1, seconds=30)
    assert slots_passed_while_paused(paused, resumed_at) == minutes


def test_the_counter_of_a_bulk_resume_tells_schedules_and_instants_apart() -> None:
    count = paused_slot_counter()
    paused = pause(job(), NINE - timedelta(minutes=5), TEN)
    twin = replace(paused, id="0190aaaa-0000-7000-8000-000000000002")
    two_hours_on = TEN + timedelta(hours=2)
    assert count(paused, two_hours_on) == count(twin, two_hours_on) == 3
    assert count(paused, TEN) == 1  # another instant
    assert count(replace(twin, next_run=TEN - timedelta(hours=3)), TEN) == 3  # another next run
    every_half_hour = replace(twin, spec=replace(twin.spec, trigger=CronTrigger("*/30 * * * *")))
    assert count(every_half_hour, TEN) == 2  # another schedule
