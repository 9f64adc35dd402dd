"""BackfillJob's rules: the instants of a range (the ticker's own), how a
range past the limit is counted, the policy, the release times, the setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cronstream_server.config import Settings
from cronstream_server.core import backfill as rules
from cronstream_server.core import triggers
from cronstream_server.core.backfill import BackfillRequest
from cronstream_server.core.enums import JobStatus, OverlapPolicy
from cronstream_server.core.errors import FailedPrecondition
from cronstream_server.core.jobs import Job, JobSpec
from cronstream_server.core.triggers import (
    CronTrigger,
    EventTrigger,
    IntervalTrigger,
    OnceTrigger,
    Trigger,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def listed(trigger: Trigger, start: datetime, end: datetime) -> list[datetime]:
    return [at for page in rules.pages(trigger, start, end) for at in page]


def chain(trigger: Trigger, first: datetime, end: datetime) -> list[datetime]:
    """The slots as the ticker walks them: next_run after next_run."""
    slots: list[datetime] = []
    slot: datetime | None = first
    while slot is not None and slot < end:
        slots.append(slot)
        slot = triggers.next_run(trigger, slot, len(slots))
    return slots


def job(trigger: Trigger, **spec: object) -> Job:
    return Job(
        id="01a24b40-ed25-7006-b5d0-1cacdb6e3976",
        platform_id="p",
        spec=JobSpec(name="j", handler_name="h", trigger=trigger, **spec),  # type: ignore[arg-type]
        status=JobStatus.ACTIVE,
        created_by="test",
        created_at=T0,
        updated_at=T0,
    )


def test_the_start_is_included_and_the_end_excluded() -> None:
    every_minute = CronTrigger("* * * * *")
    assert listed(every_minute, T0, T0 + 3 * MINUTE) == [T0, T0 + MINUTE, T0 + 2 * MINUTE]
    assert listed(every_minute, T0 + timedelta(seconds=1), T0 + MINUTE) == []


def test_a_range_lists_what_the_ticker_fires_across_both_berlin_jumps() -> None:
    for expression in ("30 2 * * *", "*/20 * * * *", "0 2 * * *"):
        trigger = CronTrigger(expression, "Europe/Berlin")
        start, end = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 11, 1, tzinfo=UTC)
        first = trigger.schedule().next_after(start - timedelta(seconds=1))
        assert first is not None
        assert listed(trigger, start, end) == chain(trigger, first, end), expression


def test_pages_are_bounded_and_in_order() -> None:
    trigger = CronTrigger("* * * * *")
    sizes = [len(page) for page in rules.pages(trigger, T0, T0 + 450 * MINUTE)]
    assert sizes == [rules.PAGE, rules.PAGE, 450 - 2 * rules.PAGE]


@pytest.mark.parametrize(
    ("start", "end", "max_runs", "end_at"),
    [
        (T0 - 10 * MINUTE, T0 + 10 * MINUTE, None, None),  # from before the grid
        (T0 + timedelta(seconds=30), T0 + 5 * MINUTE, None, None),  # between grid points
        (T0, T0 + 60 * MINUTE, 7, None),  # max_runs ends it
        (T0, T0 + 60 * MINUTE, None, T0 + 12 * MINUTE),  # end_at ends it, inclusive
        (T0 + 20 * MINUTE, T0 + 60 * MINUTE, 7, None),  # all past max_runs
    ],
)
def test_an_interval_is_counted_by_arithmetic_as_it_is_listed(
    start: datetime, end: datetime, max_runs: int | None, end_at: datetime | None
) -> None:
    trigger = IntervalTrigger(every=MINUTE, start_at=T0, end_at=end_at, max_runs=max_runs)
    beyond = T0 + timedelta(days=1)
    said = rules.too_many(trigger, start, end, beyond).description
    assert said.startswith(f"the range holds {len(listed(trigger, start, end)):,} instants")


def test_a_cron_range_past_the_limit_is_not_counted_further() -> None:
    violation = rules.too_many(CronTrigger("* * * * * *"), T0, T0 + timedelta(days=365), T0)
    assert violation.field == "end_time"
    assert violation.description.startswith("the range holds more than 100,000 instants")
    assert f"end this call at {T0.isoformat()}" in violation.description


def test_a_once_job_has_its_one_instant_when_the_range_holds_it() -> None:
    once = OnceTrigger(T0)
    assert listed(once, T0, T0 + MINUTE) == [T0]
    assert listed(once, T0 - MINUTE, T0) == []


def test_the_policy_defaults_from_the_job_and_refuses_dropping_ones() -> None:
    allow = job(CronTrigger("* * * * *"))
    skip = job(CronTrigger("* * * * *"), overlap_policy=OverlapPolicy.SKIP)
    assert rules.policy_for(allow, None) is OverlapPolicy.ALLOW
    assert rules.policy_for(skip, None) is OverlapPolicy.BUFFER_ONE
    assert rules.policy_for(skip, OverlapPolicy.ALLOW) is OverlapPolicy.ALLOW
    assert not rules.sequential(OverlapPolicy.ALLOW)
    assert rules.sequential(OverlapPolicy.BUFFER_ONE)
    for refused in (OverlapPolicy.SKIP, OverlapPolicy.CANCEL_PREVIOUS):
        request = BackfillRequest(T0 - MINUTE, T0, refused)
        [violation] = rules.check_request(request, T0)
        assert violation.field == "overlap_policy"


def test_a_range_must_be_ordered_and_past() -> None:
    fields = [v.field for v in rules.check_request(BackfillRequest(T0, T0 + MINUTE), T0)]
    assert fields == ["end_time"]  # in the future
    assert rules.check_request(BackfillRequest(T0 - MINUTE, T0), T0) == []  # up to now
    reversed_range = rules.check_request(BackfillRequest(T0, T0 - MINUTE), T0)
    assert [v.description for v in reversed_range] == ["must be after start_time"]


def test_only_jobs_with_a_schedule_that_are_not_cancelled() -> None:
    with pytest.raises(FailedPrecondition, match="no schedule"):
        rules.check_job(job(EventTrigger("signup")))
    cancelled = job(CronTrigger("* * * * *"))
    object.__setattr__(cancelled, "status", JobStatus.CANCELLED)
    with pytest.raises(FailedPrecondition, match="cancelled"):
        rules.check_job(cancelled)
    for status in (JobStatus.PAUSED, JobStatus.COMPLETED, JobStatus.FAILED):
        held = job(CronTrigger("* * * * *"))
        object.__setattr__(held, "status", status)
        rules.check_job(held)


def test_a_backfilled_execution_is_released_at_its_turn_without_jitter() -> None:
    spaced = [rules.release_at(T0, i, 4.0) for i in range(3)]
    assert spaced == [T0, T0 + timedelta(seconds=0.25), T0 + timedelta(seconds=0.5)]
    jittery = job(CronTrigger("* * * * *"), jitter=timedelta(seconds=30))
    made = rules.execution(jittery, T0 - MINUTE, T0, spaced[2], None)
    assert (made.scheduled_at, made.due_at) == (T0 - MINUTE, spaced[2])
    assert made.trigger.value == "backfill"


def test_the_release_rate_is_a_setting() -> None:
    assert Settings.from_env({}).backfill_rate == rules.DEFAULT_RATE
    assert Settings.from_env({"CRONSTREAM_BACKFILL_RATE": "12.5"}).backfill_rate == 12.5
    for bad in ("0", "-1", "fast", "nan", "1e9"):
        with pytest.raises(ValueError, match="CRONSTREAM_BACKFILL_RATE"):
            Settings.from_env({"CRONSTREAM_BACKFILL_RATE": bad})
