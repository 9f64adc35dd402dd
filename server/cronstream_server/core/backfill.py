"""BackfillJob: a job's past slots, run late on purpose. Pure: `now` is a parameter.

The instants are the schedule's exactly as the ticker fires them: they come
from `core.triggers.preview`, the function the engine and PreviewSchedule
share (time zone, Debian cron's clock rules, an interval's grid, `max_runs`
and `end_at` included).

A backfilled execution is marked BACKFILL and keeps its instant as
`scheduled_at`, the identity it shares with the ticker's slot: one execution
per (job, instant), whoever made it. It carries no jitter (it runs late on
purpose, and the release below spreads it already). It is released at a
bounded rate: the i-th new execution of a call is released `i / rate`
seconds after the call began, so that at any moment only a trickle of
backfill is pending beside the live slots, which the claim orders by
priority then due time. A BUFFER_ONE backfill's is released no sooner than
that, and only once the earlier ones finished (core.release).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from cronstream_server.core import executions as execution_rules
from cronstream_server.core import triggers
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger, JobStatus, OverlapPolicy
from cronstream_server.core.errors import FailedPrecondition, FieldViolation
from cronstream_server.core.executions import Execution
from cronstream_server.core.jobs import Job
from cronstream_server.core.tracing import TraceContext
from cronstream_server.core.triggers import EventTrigger, IntervalTrigger, Trigger
from cronstream_server.core.values import value_type

# Instants one call may create executions for.
MAX_INSTANTS = 100_000
# Backfilled executions released to workers per second, per call
# (CRONSTREAM_BACKFILL_RATE).
DEFAULT_RATE = 100.0
MAX_RATE = 100_000.0
# Instants computed per page: a cron instant costs tens of microseconds, so
# the caller lets the event loop run between pages.
PAGE = 200
# The instant just before `start`, so that `start` itself is included: the
# schedule functions list instants strictly after the one they are given.
_TICK = timedelta(microseconds=1)
# The overlap policies a backfill can honour: SKIP and CANCEL_PREVIOUS
# would drop instants the call asks to run.
HONOURED = (OverlapPolicy.ALLOW, OverlapPolicy.BUFFER_ONE)


@value_type
class BackfillRequest:
    """What a call asks for, its fields checked (`check_request`)."""

    start: datetime
    end: datetime
    overlap_policy: OverlapPolicy | None = None  # None: from the job's own


@value_type
class Backfilled:
    """What a call did."""

    instants: int  # of the schedule in the range
    created: int  # executions this call created

    @property
    def existing(self) -> int:
        """Instants that already had an execution (the ticker's or an earlier
        backfill's), or got one from another writer while the call ran."""
        return self.instants - self.created


def check_request(request: BackfillRequest, now: datetime) -> list[FieldViolation]:
    """The range's own rules: not reversed, not empty, not ending in the future;
    an overlap policy a backfill can honour."""
    violations: list[FieldViolation] = []
    if request.end <= request.start:
        violations.append(FieldViolation("end_time", "must be after start_time"))
    if request.end > now:
        violations.append(
            FieldViolation("end_time", f"is in the future; at most now ({now.isoformat()})")
        )
    policy = request.overlap_policy
    if policy is not None and policy not in HONOURED:
        violations.append(
            FieldViolation(
                "overlap_policy",
                f"{policy.value} would drop instants a backfill is asked to run; "
                "use allow or buffer_one",
            )
        )
    return violations


def check_job(job: Job) -> None:
    """A job that can be backfilled: one with a schedule, not cancelled. A
    paused or completed job can: its past slots are its past all the same."""
    if isinstance(job.spec.trigger, EventTrigger):
        raise FailedPrecondition("an event job has no schedule to backfill")
    if job.status is JobStatus.CANCELLED:
        raise FailedPrecondition("job is cancelled; a cancelled job cannot be backfilled")


def policy_for(job: Job, asked: OverlapPolicy | None) -> OverlapPolicy:
    """The call's policy, or when unspecified: ALLOW for a job that allows
    overlap, else BUFFER_ONE (one at a time, as the job's own runs are)."""
    if asked is not None:
        return asked
    return (
        OverlapPolicy.ALLOW
        if job.spec.overlap_policy is OverlapPolicy.ALLOW
        else OverlapPolicy.BUFFER_ONE
    )


def sequential(policy: OverlapPolicy) -> bool:
    """BUFFER_ONE: the call's executions run one at a time, oldest instant
    first (each released once no earlier backfilled execution of its job is
    unfinished). ALLOW: at the rate, no limit beyond the workers'."""
    return policy is OverlapPolicy.BUFFER_ONE


def pages(trigger: Trigger, start: datetime, end: datetime) -> Iterator[list[datetime]]:
    """The schedule's instants in [start, end), in order, a page at a time."""
    cursor = start - _TICK
    while True:
        page = triggers.preview(trigger, cursor, PAGE)
        inside = [at for at in page if at < end]
        if inside:
            yield inside
        if len(inside) < PAGE:
            return
        cursor = page[-1]


def too_many(trigger: Trigger, start: datetime, end: datetime, beyond: datetime) -> FieldViolation:
    """The violation of a range holding more than MAX_INSTANTS instants;
    `beyond` is the first instant past the limit, where a call can end.

    An interval's instants are counted by arithmetic on its grid, whatever
    their number. A cron schedule's can only be counted by listing them (tens
    of microseconds each: a year of seconds would take minutes), so the count
    stops at the limit."""
    count = _interval_count(trigger, start, end) if isinstance(trigger, IntervalTrigger) else None
    holds = f"{count:,}" if count is not None else f"more than {MAX_INSTANTS:,}"
    return FieldViolation(
        "end_time",
        f"the range holds {holds} instants; at most {MAX_INSTANTS:,} per call: end this call "
        f"at {beyond.isoformat()} (the first instant past the limit) or sooner, and backfill "
        "the rest in further calls",
    )


def _interval_count(trigger: IntervalTrigger, start: datetime, end: datetime) -> int:
    """Grid points in [start, end), within the trigger's max_runs and end_at."""
    first = trigger.index_after(start - _TICK)
    stop = trigger.index_after(end - _TICK)  # the first grid point at or after end
    if trigger.max_runs is not None:
        stop = min(stop, trigger.max_runs)
    if trigger.end_at is not None:
        stop = min(stop, trigger.index_after(trigger.end_at))
    return max(0, stop - first)


def release_at(began: datetime, index: int, rate: float) -> datetime:
    """When a call's `index`-th new execution becomes due."""
    return began + timedelta(seconds=index / rate)


def execution(
    job: Job, at: datetime, now: datetime, release: datetime, trace: TraceContext | None
) -> Execution:
    """The backfilled execution of the instant `at`: as a firing copies the
    job (payload, handler, priority, retries, timeout), without jitter. Its
    firing links to `trace`, the BackfillJob call's (core.tracing.lineage).

    It waits, due at its `release` (core.release says when it goes), with no
    deadline: a slot run late on purpose is never missed for waiting. Waiting,
    it is outside the claim's index, which pending rows not yet due would
    make every claim of its handler read through."""
    made = execution_rules.for_job(job, ExecutionTrigger.BACKFILL, at, now, trace=trace)
    return replace(made, status=ExecutionStatus.WAITING, due_at=release)
