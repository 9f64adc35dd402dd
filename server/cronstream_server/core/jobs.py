"""Jobs: what a user asks for (JobSpec), what the scheduler keeps (Job), the
rules a spec must satisfy, and the lifecycle's transitions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field, replace
from datetime import datetime, timedelta
from typing import Any

from cronstream_server.core import triggers
from cronstream_server.core.cron import CronExpressionError, TimezoneError
from cronstream_server.core.enums import (
    HandlerType,
    JobStatus,
    JobType,
    MisfirePolicy,
    OverlapPolicy,
    Priority,
)
from cronstream_server.core.errors import FailedPrecondition, FieldViolation
from cronstream_server.core.health import HealthPolicy, JobHealth, check_policy
from cronstream_server.core.ids import is_valid_id
from cronstream_server.core.limits import ConcurrencyLimit, check_concurrency, check_key
from cronstream_server.core.tracing import TraceContext
from cronstream_server.core.triggers import (
    CronTrigger,
    EventTrigger,
    IntervalTrigger,
    OnceTrigger,
    Trigger,
)
from cronstream_server.core.validation import check_name, raise_if_any
from cronstream_server.core.values import value_type

DEFAULT_MAX_RETRIES = 3
MAX_RETRIES_LIMIT = 100
DEFAULT_RETRY_DELAY = timedelta(seconds=60)
DEFAULT_TIMEOUT = timedelta(seconds=300)
DEFAULT_CATCHUP_WINDOW = timedelta(hours=1)
MAX_DURATION = timedelta(days=366)
MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_METADATA_ENTRIES = 64
MAX_METADATA_KEY_LENGTH = 64
MAX_METADATA_VALUE_LENGTH = 1024
MAX_DEPENDENCIES = 16
DEFAULT_MAX_WAIT = timedelta(hours=1)
MAX_MAX_WAIT = timedelta(days=7)


@value_type
class JobSpec:
    """Everything about a job that its owner sets."""

    name: str
    handler_name: str
    trigger: Trigger | None
    handler_type: HandlerType = HandlerType.FUNCTION
    payload: dict[str, Any] | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_delay: timedelta = DEFAULT_RETRY_DELAY
    timeout: timedelta = DEFAULT_TIMEOUT
    priority: Priority = Priority.MEDIUM
    tags: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    overlap_policy: OverlapPolicy = OverlapPolicy.ALLOW
    misfire_policy: MisfirePolicy = MisfirePolicy.RUN_ONCE
    catchup_window: timedelta = DEFAULT_CATCHUP_WINDOW
    jitter: timedelta = timedelta(0)
    health_policy: HealthPolicy = HealthPolicy()
    # Ids of the platform's jobs whose slot must succeed first (core.dependencies).
    depends_on: tuple[str, ...] = ()
    max_wait: timedelta = DEFAULT_MAX_WAIT
    concurrency: ConcurrencyLimit | None = None
    rate_limit_key: str = ""  # as written; "" for none

    @property
    def type(self) -> JobType:
        return job_type(self.trigger)


@value_type
class Job:
    """A job as stored: its spec plus what the scheduler keeps about it."""

    id: str
    platform_id: str
    spec: JobSpec
    status: JobStatus
    created_by: str
    created_at: datetime
    updated_at: datetime
    next_run: datetime | None = None
    last_run: datetime | None = None
    runs_count: int = 0
    executions_count: int = 0
    success_count: int = 0
    failure_count: int = 0
    avg_duration_ms: int | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    # Kept by the engine, not set by the owner (docs/alerts.md).
    health: JobHealth = JobHealth()
    failure_streak: int = 0  # finished attempts in a row that failed or timed out
    trace: TraceContext | None = None  # of the call that created or last updated the job
    # When a paused job resumes by itself (PauseJob's `until`); None while it
    # waits for ResumeJob, and whenever it is not paused.
    paused_until: datetime | None = None


def job_type(trigger: Trigger | None) -> JobType:
    if isinstance(trigger, CronTrigger):
        return JobType.CRON
    if isinstance(trigger, OnceTrigger):
        return JobType.ONE_TIME
    if isinstance(trigger, IntervalTrigger):
        return JobType.RECURRING
    return JobType.EVENT


# --- validation -------------------------------------------------------------


@value_type
class RawCron:
    expression: str
    timezone: str


@value_type
class RawOnce:
    run_at: datetime | None


@value_type
class RawInterval:
    every: timedelta
    start_at: datetime | None
    end_at: datetime | None
    max_runs: int  # 0: no limit


@value_type
class RawEvent:
    event_name: str


RawTrigger = RawCron | RawOnce | RawInterval | RawEvent
"""A trigger as a request states it, before its rules are checked."""


def build_trigger(
    raw: RawTrigger | None, now: datetime, prefix: str, violations: list[FieldViolation]
) -> Trigger | None:
    """The trigger `raw` describes, or None after appending why it is invalid.

    An interval without `start_at` starts one `every` after `now`, as an
    "every 5 minutes" schedule does elsewhere (APScheduler, Cloud Scheduler).
    """
    count = len(violations)
    match raw:
        case None:
            violations.append(
                FieldViolation(
                    f"{prefix}.trigger", "one of cron, once, interval or event is required"
                )
            )
        case RawCron():
            _check_cron(violations, f"{prefix}.cron", raw)
        case RawOnce(run_at=None):
            violations.append(FieldViolation(f"{prefix}.once.run_at", "is required"))
        case RawInterval():
            _check_interval(violations, f"{prefix}.interval", raw, now)
        case RawEvent():
            check_name(violations, f"{prefix}.event.event_name", raw.event_name)
    if len(violations) > count or raw is None:
        return None
    return _construct(raw, now)


def _construct(raw: RawTrigger, now: datetime) -> Trigger:
    match raw:
        case RawCron():
            return CronTrigger(raw.expression, raw.timezone or "UTC")
        case RawOnce(run_at=run_at) if run_at is not None:
            return OnceTrigger(run_at)
        case RawInterval():
            return IntervalTrigger(
                every=raw.every,
                start_at=raw.start_at or now + raw.every,
                end_at=raw.end_at,
                max_runs=raw.max_runs or None,
            )
        case RawEvent():
            return EventTrigger(raw.event_name)
    raise AssertionError(f"unchecked trigger {raw!r}")


def validate_spec(spec: JobSpec, prefix: str, violations: list[FieldViolation]) -> None:
    """Appends a violation for every bad field of `spec` but its trigger
    (which `build_trigger` checked), then raises InvalidArgument if any."""
    check_spec(spec, prefix, violations)
    raise_if_any(violations)


def check_spec(spec: JobSpec, prefix: str, violations: list[FieldViolation]) -> None:
    """Appends a violation for every bad field of `spec` but its trigger, without
    raising: a batch collects the violations of all its jobs before it answers."""
    check_name(violations, f"{prefix}.name", spec.name)
    check_name(violations, f"{prefix}.handler_name", spec.handler_name)
    _check_retries(violations, prefix, spec)
    _check_positive(violations, f"{prefix}.retry_delay", spec.retry_delay)
    _check_positive(violations, f"{prefix}.timeout", spec.timeout)
    _check_within(violations, f"{prefix}.catchup_window", spec.catchup_window)
    _check_within(violations, f"{prefix}.jitter", spec.jitter)
    check_policy(violations, f"{prefix}.health_policy", spec.health_policy)
    _check_tags(violations, f"{prefix}.tags", spec.tags)
    _check_metadata(violations, f"{prefix}.metadata", spec.metadata)
    _check_dependencies(violations, prefix, spec)
    check_concurrency(violations, f"{prefix}.concurrency", spec.concurrency)
    check_key(violations, f"{prefix}.rate_limit_key", spec.rate_limit_key, required=False)


def _check_retries(violations: list[FieldViolation], prefix: str, spec: JobSpec) -> None:
    if not 0 <= spec.max_retries <= MAX_RETRIES_LIMIT:
        violations.append(
            FieldViolation(f"{prefix}.max_retries", f"must be 0 to {MAX_RETRIES_LIMIT}")
        )


def _check_positive(violations: list[FieldViolation], path: str, value: timedelta) -> None:
    if value <= timedelta(0):
        violations.append(FieldViolation(path, "must be positive"))
    elif value > MAX_DURATION:
        violations.append(FieldViolation(path, "must be at most 366 days"))


def _check_within(violations: list[FieldViolation], path: str, value: timedelta) -> None:
    if value < timedelta(0):
        violations.append(FieldViolation(path, "must not be negative"))
    elif value > MAX_DURATION:
        violations.append(FieldViolation(path, "must be at most 366 days"))


def _check_cron(violations: list[FieldViolation], path: str, raw: RawCron) -> None:
    # Expression and zone are checked apart so that both can be reported.
    try:
        triggers.cron_schedule(raw.expression, "UTC")
    except CronExpressionError as error:
        violations.append(FieldViolation(f"{path}.expression", str(error)))
    try:
        triggers.cron_schedule(_ALWAYS, raw.timezone or "UTC")
    except TimezoneError as error:
        violations.append(FieldViolation(f"{path}.timezone", str(error)))


_ALWAYS = "* * * * *"


def _check_interval(
    violations: list[FieldViolation], path: str, raw: RawInterval, now: datetime
) -> None:
    if raw.every <= timedelta(0):
        violations.append(FieldViolation(f"{path}.every", "must be positive"))
    elif raw.every > MAX_DURATION:
        violations.append(FieldViolation(f"{path}.every", "must be at most 366 days"))
        return
    start_at = raw.start_at or now + raw.every
    if raw.end_at is not None and raw.end_at <= start_at:
        violations.append(FieldViolation(f"{path}.end_at", "must be after start_at"))
    if raw.max_runs < 0:
        violations.append(FieldViolation(f"{path}.max_runs", "must not be negative"))


def _check_tags(violations: list[FieldViolation], path: str, tags: tuple[str, ...]) -> None:
    if len(tags) > MAX_TAGS:
        violations.append(FieldViolation(path, f"has {len(tags)} tags; at most {MAX_TAGS}"))
        return
    for index, tag in enumerate(tags):
        check_name(violations, f"{path}[{index}]", tag, max_length=MAX_TAG_LENGTH)


def _check_metadata(violations: list[FieldViolation], path: str, entries: dict[str, str]) -> None:
    if len(entries) > MAX_METADATA_ENTRIES:
        violations.append(
            FieldViolation(path, f"has {len(entries)} entries; at most {MAX_METADATA_ENTRIES}")
        )
        return
    for key, value in entries.items():
        check_name(violations, f"{path}[{key!r}]", key, max_length=MAX_METADATA_KEY_LENGTH)
        if "\x00" in value:
            violations.append(FieldViolation(f"{path}[{key!r}]", "value must not contain NUL"))
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            violations.append(
                FieldViolation(
                    f"{path}[{key!r}]", f"value is longer than {MAX_METADATA_VALUE_LENGTH}"
                )
            )


def _check_dependencies(violations: list[FieldViolation], prefix: str, spec: JobSpec) -> None:
    """What can be told without the platform's graph (core.dependencies checks
    the rest where the edges are stored). A malformed id is refused as an
    unknown one is: either way it names no job of the platform."""
    path = f"{prefix}.depends_on"
    if spec.depends_on and spec.type is JobType.EVENT:
        violations.append(FieldViolation(path, "an event job has no slots to hold back"))
    if len(spec.depends_on) > MAX_DEPENDENCIES:
        violations.append(
            FieldViolation(path, f"names {len(spec.depends_on)} jobs; at most {MAX_DEPENDENCIES}")
        )
    first: dict[str, int] = {}
    for index, job_id in enumerate(spec.depends_on):
        if not is_valid_id(job_id):
            violations.append(FieldViolation(f"{path}[{index}]", "is not a job of this platform"))
        elif (earlier := first.setdefault(job_id, index)) != index:
            violations.append(FieldViolation(f"{path}[{index}]", f"repeats {path}[{earlier}]"))
    if spec.max_wait <= timedelta(0):
        violations.append(FieldViolation(f"{prefix}.max_wait", "must be positive"))
    elif spec.max_wait > MAX_MAX_WAIT:
        violations.append(FieldViolation(f"{prefix}.max_wait", "must be at most 7 days"))


# --- lifecycle --------------------------------------------------------------

_PAUSABLE = frozenset({JobStatus.PENDING, JobStatus.ACTIVE, JobStatus.PAUSED})
_CANCELLABLE = frozenset({JobStatus.PENDING, JobStatus.ACTIVE, JobStatus.PAUSED})
_RESUMABLE = frozenset({JobStatus.PAUSED, JobStatus.ACTIVE, JobStatus.PENDING})


def first_run(spec: JobSpec, now: datetime) -> datetime | None:
    """The first slot of a new (or rescheduled) job, as the engine fires it."""
    return triggers.first_run(spec.trigger, now) if spec.trigger is not None else None


def check_until(
    violations: list[FieldViolation], path: str, until: datetime, now: datetime
) -> None:
    """A pause's `until` must come after `now`: one already passed would
    resume the job at once, which is a ResumeJob, not a pause."""
    if until <= now:
        violations.append(FieldViolation(path, "must be in the future"))


def pause(job: Job, now: datetime, until: datetime | None = None) -> Job:
    """Paused jobs keep their place. Pausing a paused job sets its `until`
    anew (None: until ResumeJob), and is otherwise harmless."""
    if job.status not in _PAUSABLE:
        raise FailedPrecondition(
            f"job is {job.status.value}; a completed, failed or cancelled job cannot be paused"
        )
    return replace(job, status=JobStatus.PAUSED, paused_until=until, updated_at=now)


def resume(job: Job, now: datetime) -> Job:
    """Fires again from the first slot after now; resuming an active job is harmless."""
    if job.status not in _RESUMABLE:
        raise FailedPrecondition(
            f"job is {job.status.value}; a completed, failed or cancelled job cannot be resumed"
        )
    if job.status is not JobStatus.PAUSED:
        return job
    return replace(
        job,
        status=JobStatus.ACTIVE,
        next_run=resume_slot(job, now),
        paused_until=None,
        updated_at=now,
    )


def resume_by_itself(job: Job, now: datetime) -> Job:
    """A job paused with `until`, resumed when that instant has come (`now`,
    on time or late). As `resume`, but its slots from `until` on belong to it
    again: one exactly at `until` runs, and those between `until` and a late
    `now` are missed slots its misfire policy handles, as after downtime."""
    assert job.status is JobStatus.PAUSED and job.paused_until is not None
    return replace(resume(job, job.paused_until), updated_at=now)


def resume_slot(job: Job, now: datetime) -> datetime | None:
    """The slot a resumed job fires next: slots missed while paused are not run
    (a pause is a deliberate choice); a due once-job still runs."""
    trigger = job.spec.trigger
    if trigger is None or job.next_run is None or job.next_run >= now:
        return job.next_run
    if isinstance(trigger, OnceTrigger):
        return job.next_run
    upcoming = triggers.preview(trigger, now - timedelta(microseconds=1), 1)
    return upcoming[0] if upcoming else None


# Slots a pause skipped are counted one by one (telemetry), up to this many.
MAX_COUNTED_PAUSED_SLOTS = 10_000


def slots_passed_while_paused(paused: Job, now: datetime) -> int:
    """How many of the paused job's slots came while it was paused and will
    not run: from its next run as paused up to `now` (at most
    MAX_COUNTED_PAUSED_SLOTS). A due once-job still runs: none."""
    trigger = paused.spec.trigger
    first = paused.next_run
    if trigger is None or first is None or first >= now or isinstance(trigger, OnceTrigger):
        return 0
    count, cursor, size = 1, first, 8
    while count < MAX_COUNTED_PAUSED_SLOTS:
        batch = triggers.preview(trigger, cursor, min(size, MAX_COUNTED_PAUSED_SLOTS - count))
        passed = [slot for slot in batch if slot < now]
        count += len(passed)
        if not batch or len(passed) < len(batch):  # the trigger ended, or `now` is reached
            break
        cursor = batch[-1]
        # Growing batches: a short pause costs a few slots' work, not a
        # thousand's (a bulk resume counts this for every job it resumes).
        size = min(size * 4, 1000)
    return min(count, MAX_COUNTED_PAUSED_SLOTS)


# Resumed jobs whose paused slots are counted between two turns of the event
# loop (a job paused long on a minutely schedule costs up to ~0.1 s to count).
COUNT_TURN = 20


def paused_slot_counter() -> Callable[[Job, datetime], int]:
    """slots_passed_while_paused, remembering what it counted for each
    (trigger, next run, instant): the jobs of one bulk resume, or of one
    self-resume, often share all three (made by one batch, paused by one
    PauseJobs), and each is then counted once."""
    counted: dict[tuple[Trigger | None, datetime | None, datetime], int] = {}

    def count(paused: Job, now: datetime) -> int:
        key = (paused.spec.trigger, paused.next_run, now)
        if key not in counted:
            counted[key] = slots_passed_while_paused(paused, now)
        return counted[key]

    return count


def cancel(job: Job, now: datetime) -> Job:
    if job.status not in _CANCELLABLE:
        raise FailedPrecondition(f"job is {job.status.value} and cannot be cancelled")
    return replace(
        job,
        status=JobStatus.CANCELLED,
        next_run=None,
        paused_until=None,
        cancelled_at=now,
        updated_at=now,
    )


def check_runnable(job: Job) -> None:
    """RunJob: any job but a cancelled one may be run by hand."""
    if job.status is JobStatus.CANCELLED:
        raise FailedPrecondition("job is cancelled; create a new job instead")


def reschedule(
    job: Job,
    spec: JobSpec,
    trigger_changed: bool,
    now: datetime,
    trace: TraceContext | None = None,
) -> Job:
    """A job with a new spec. A new trigger recomputes next_run (and brings a
    completed or failed job back to life when it has a slot left). `trace`,
    the updating call's context, is what the job's firings link to from now
    on; without one they keep linking to the job's earlier call."""
    if job.status is JobStatus.CANCELLED:
        raise FailedPrecondition("job is cancelled and cannot be changed")
    trace = trace or job.trace
    if not trigger_changed:
        return replace(job, spec=spec, updated_at=now, trace=trace)
    next_run = first_run(spec, now)
    status = job.status
    if status in (JobStatus.COMPLETED, JobStatus.FAILED):
        status = JobStatus.ACTIVE if next_run or spec.type is JobType.EVENT else status
    return replace(
        job,
        spec=spec,
        status=status,
        next_run=next_run,
        runs_count=0,
        completed_at=None if status is JobStatus.ACTIVE else job.completed_at,
        updated_at=now,
        trace=trace,
    )
