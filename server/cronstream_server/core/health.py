"""What healthy means for a job, and how its alerts add up to its health.

A policy names four conditions (docs/alerts.md): a firing not started
`max_start_delay` after it was due is LATE; an execution running
`max_duration` after it started is OVERRUNNING; `consecutive_failures`
attempts in a row that failed or timed out make the job FAILING; a slot
skipped by the misfire or overlap policy is MISSED. Each opens an alert of
its kind; the job's health is the worst of its open alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from cronstream_server.core.alerts import Opening
from cronstream_server.core.enums import ExecutionStatus, HealthState
from cronstream_server.core.errors import FieldViolation
from cronstream_server.core.values import value_type

if TYPE_CHECKING:
    from cronstream_server.core.executions import Execution
    from cronstream_server.core.jobs import Job

T = TypeVar("T")

DEFAULT_CONSECUTIVE_FAILURES = 3
MAX_CONSECUTIVE_FAILURES = 100
MAX_HEALTH_DELAY = timedelta(days=7)

# Worst first: the state a job shows when several alerts are open.
SEVERITY = (
    HealthState.FAILING,
    HealthState.OVERRUNNING,
    HealthState.MISSED,
    HealthState.LATE,
)


@value_type
class HealthPolicy:
    """A job's policy as its owner set it; None takes the default."""

    max_start_delay: timedelta | None = None  # None or zero: never late
    max_duration: timedelta | None = None  # None or zero: never overrunning
    consecutive_failures: int | None = None
    alert_on_missed: bool | None = None
    pause_on_failure: bool | None = None

    @property
    def late_after(self) -> timedelta | None:
        return self.max_start_delay or None

    @property
    def overrunning_after(self) -> timedelta | None:
        return self.max_duration or None

    @property
    def failing_after(self) -> int:
        return self.consecutive_failures or DEFAULT_CONSECUTIVE_FAILURES

    @property
    def missed_alerts(self) -> bool:
        return True if self.alert_on_missed is None else self.alert_on_missed

    @property
    def pauses_on_failure(self) -> bool:
        return bool(self.pause_on_failure)


def effective(job: HealthPolicy, defaults: HealthPolicy) -> HealthPolicy:
    """The job's policy with each unset field taken from the platform's
    defaults (whose unset fields leave the documented default)."""
    return HealthPolicy(
        max_start_delay=_first(job.max_start_delay, defaults.max_start_delay),
        max_duration=_first(job.max_duration, defaults.max_duration),
        consecutive_failures=_first(job.consecutive_failures, defaults.consecutive_failures),
        alert_on_missed=_first(job.alert_on_missed, defaults.alert_on_missed),
        pause_on_failure=_first(job.pause_on_failure, defaults.pause_on_failure),
    )


def _first(value: T | None, fallback: T | None) -> T | None:
    return fallback if value is None else value


@value_type
class JobHealth:
    state: HealthState = HealthState.HEALTHY
    since: datetime | None = None
    reason: str = ""


def check_policy(violations: list[FieldViolation], path: str, policy: HealthPolicy) -> None:
    for name, value in (
        ("max_start_delay", policy.max_start_delay),
        ("max_duration", policy.max_duration),
    ):
        if value is None:
            continue
        if value < timedelta(0):
            violations.append(FieldViolation(f"{path}.{name}", "must not be negative"))
        elif value > MAX_HEALTH_DELAY:
            violations.append(FieldViolation(f"{path}.{name}", "must be at most 7 days"))
    failures = policy.consecutive_failures
    if failures is not None and not 1 <= failures <= MAX_CONSECUTIVE_FAILURES:
        violations.append(
            FieldViolation(
                f"{path}.consecutive_failures", f"must be 1 to {MAX_CONSECUTIVE_FAILURES}"
            )
        )


def worst(open_kinds: Iterable[HealthState]) -> HealthState:
    """The job's health given the kinds of its open alerts."""
    kinds = set(open_kinds)
    return next((kind for kind in SEVERITY if kind in kinds), HealthState.HEALTHY)


def late_reason(delay: timedelta, scheduled_at: datetime) -> str:
    return (
        f"the firing of {scheduled_at.isoformat()} has not started {_span(delay)} after it was due"
    )


def overrunning_reason(limit: timedelta, started_at: datetime) -> str:
    return f"an execution started at {started_at.isoformat()} has run longer than {_span(limit)}"


def failing_reason(streak: int, paused: bool) -> str:
    text = f"{streak} attempts in a row failed or timed out"
    return f"{text}; the job paused itself" if paused else text


def missed_reason(note: str, scheduled_at: datetime) -> str:
    return f"the slot of {scheduled_at.isoformat()} will not run ({note})"


def _span(value: timedelta) -> str:
    seconds = value.total_seconds()
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"


def missed_alerts(job: Job, recorded: Iterable[Execution]) -> list[Opening]:
    """A MISSED alert for the latest of the job's slots this tick skipped (a
    job has one open alert of a kind; its reason names the latest slot)."""
    skipped = [e for e in recorded if e.status is ExecutionStatus.SKIPPED]
    if not skipped:
        return []
    last = max(skipped, key=lambda e: e.scheduled_at)
    count = f"{len(skipped)} slots" if len(skipped) > 1 else "a slot"
    return [
        Opening(
            platform_id=job.platform_id,
            job_id=job.id,
            job_name=job.spec.name,
            handler_name=job.spec.handler_name,
            kind=HealthState.MISSED,
            reason=f"{count} skipped; " + missed_reason(last.error or "skipped", last.scheduled_at),
            execution_id=last.id,
            scheduled_at=last.scheduled_at,
        )
    ]
