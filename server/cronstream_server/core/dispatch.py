"""Dispatch rules: which pending execution goes to which worker session, and
what a worker's result (or a missed deadline) does to a running execution.

Pure functions over small frozen records; the engine feeds them what the
store read under its locks and writes back what they decide.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger, Priority
from cronstream_server.core.limits import NO_KEYS, Keys
from cronstream_server.core.retry import DEFAULT_RETRY_CAP, retry_delay
from cronstream_server.core.values import value_type


@value_type
class Pending:
    """A due pending execution, as the dispatcher claims it."""

    id: str
    platform_id: str
    job_id: str | None
    handler_name: str
    payload: dict[str, Any] | None
    priority: Priority
    scheduled_at: datetime
    due_at: datetime
    attempt: int
    timeout: timedelta
    trigger: ExecutionTrigger  # how it came about: which trace its spans join
    trace_id: str | None = None  # of the first attempt's span, once it was sent
    span_id: str | None = None
    traceparent: str | None = None  # Execution.trace
    tracestate: str | None = None
    keys: Keys = NO_KEYS  # concurrency and rate-limit keys (core.admission)


@value_type
class Seat:
    """A worker session's free slots for one dispatch round."""

    session_id: str
    worker_id: str
    platform_id: str
    handler_names: frozenset[str]
    free: int


@value_type
class Want:
    """At most `limit` due executions of one platform's handler."""

    platform_id: str
    handler_name: str
    limit: int


@value_type
class TraceStamp:
    """The execution's span for this attempt, as stored and as sent."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    traceparent: str
    tracestate: str


@value_type
class Start:
    """A claimed execution: what is written on its row and sent to its worker."""

    execution: Pending
    session_id: str
    worker_id: str
    started_at: datetime
    lease_expires_at: datetime
    deadline_at: datetime
    trace: TraceStamp


@value_type
class Claimed:
    """One claim (DispatchStore.claim): what started, and the clocks it ran on."""

    starts: list[Start]
    now: datetime  # the database's clock, which decided what was due
    # This process's clock just before the database's was read, and just
    # after: the database read its clock between the two (core.clock_offset).
    sent_at: datetime
    read_at: datetime
    # When a rate-limited candidate's bucket next holds a token, or a key
    # another replica was claiming is free to look at again: a round then.
    retry_at: datetime | None = None


def dispatch_order(execution: Pending) -> tuple[int, datetime, str]:
    """Critical first, then the longest due (ids are time-ordered: a tie-break)."""
    return (-int(execution.priority), execution.due_at, execution.id)


def wants(seats: Iterable[Seat], batch: int) -> list[Want]:
    """For each (platform, handler) some free seat serves: how many to claim.

    A session serving several handlers offers its free slots to each, so the
    claim may lock more rows than it starts; `plan` picks among them by
    priority and the rest stay pending."""
    totals: defaultdict[tuple[str, str], int] = defaultdict(int)
    for seat in seats:
        if seat.free > 0:
            for handler in seat.handler_names:
                totals[(seat.platform_id, handler)] += seat.free
    return [Want(p, h, min(n, batch)) for (p, h), n in sorted(totals.items())]


def plan(candidates: Iterable[Pending], seats: Sequence[Seat]) -> list[tuple[Pending, Seat]]:
    """Assigns candidates in dispatch order, each to the eligible seat (same
    platform, serves its handler) with the most free slots left; never more
    per seat than its free slots. Candidates left over stay pending."""
    free = {seat.session_id: seat.free for seat in seats}
    serving: defaultdict[tuple[str, str], list[Seat]] = defaultdict(list)
    for seat in seats:
        for handler in seat.handler_names:
            serving[(seat.platform_id, handler)].append(seat)
    chosen: list[tuple[Pending, Seat]] = []
    for candidate in sorted(candidates, key=dispatch_order):
        eligible = [
            seat
            for seat in serving.get((candidate.platform_id, candidate.handler_name), ())
            if free[seat.session_id] > 0
        ]
        if eligible:
            seat = max(eligible, key=lambda s: free[s.session_id])
            free[seat.session_id] -= 1
            chosen.append((candidate, seat))
    return chosen


# --- results and deadlines ---------------------------------------------------


@value_type
class Report:
    """A worker's result for one attempt."""

    platform_id: str
    execution_id: str
    attempt: int
    succeeded: bool
    result: dict[str, Any] | None = None
    error: str = ""
    error_stack: str = ""
    retryable: bool = True


@value_type
class Held:
    """A running (or once running) execution, read under lock to settle it."""

    id: str
    platform_id: str
    job_id: str | None
    trigger: ExecutionTrigger
    status: ExecutionStatus
    attempt: int
    retry_count: int
    max_retries: int
    retry_delay: timedelta
    timeout: timedelta
    started_at: datetime | None
    handler_name: str = ""  # for what is counted of it (telemetry.metrics)


class Verdict(StrEnum):
    """What a result does. Every result is acknowledged, whatever its verdict,
    so the worker forgets it; only APPLY changes anything."""

    APPLY = "apply"
    REPEATED = "repeated"  # this attempt was settled already (a resent result)
    STALE = "stale"  # the execution has moved on to another attempt (fencing)
    UNKNOWN = "unknown"  # no such execution in the worker's platform


class EndCause(StrEnum):
    """Why a store transaction ended attempts (what telemetry counts)."""

    REPORTED = "reported"  # the worker sent a result
    LOST = "lost"  # its lease ran out, or its worker's stream closed
    TIMEOUT = "timeout"  # it ran past its deadline


class Ending(StrEnum):
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"  # back to pending, due after the backoff
    FAILED = "failed"
    TIMED_OUT = "timed_out"

    @property
    def is_final(self) -> bool:
        return self is not Ending.RETRYING


@value_type
class Settlement:
    """How one attempt ends, with the values to store."""

    held: Held
    ending: Ending
    at: datetime
    due_at: datetime | None = None  # RETRYING: next_retry_at and due_at
    result: dict[str, Any] | None = None
    error: str | None = None
    error_stack: str | None = None

    @property
    def status(self) -> ExecutionStatus:
        return _STATUS[self.ending]

    @property
    def duration_ms(self) -> int | None:
        started = self.held.started_at
        return None if started is None else max(0, (self.at - started) // _MILLISECOND)

    @property
    def releases_buffered(self) -> bool:
        """Whether its end frees its job's BUFFER_ONE waiting execution: the
        end of a live one (a backfilled run is not what the slot waits for)."""
        return self.held.trigger is not ExecutionTrigger.BACKFILL

    @property
    def fails_one_time_job(self) -> bool:
        """A final failure of a job's scheduled slot: a one-time job fails with it."""
        return self.ending in (Ending.FAILED, Ending.TIMED_OUT) and (
            self.held.trigger is ExecutionTrigger.SCHEDULE
        )


@value_type
class Reaped:
    """One reaper pass (DispatchStore.reap): leases that ran out, and
    executions past their deadline."""

    expired: list[tuple[str, str]] = field(default_factory=list)  # (execution, platform)
    timed_out: list[Settlement] = field(default_factory=list)


_MILLISECOND = timedelta(milliseconds=1)
_STATUS = {
    Ending.SUCCEEDED: ExecutionStatus.SUCCESS,
    Ending.RETRYING: ExecutionStatus.PENDING,
    Ending.FAILED: ExecutionStatus.FAILED,
    Ending.TIMED_OUT: ExecutionStatus.TIMEOUT,
}


def judge(held: Held | None, report: Report) -> Verdict:
    """Fencing: only a result naming the current attempt of a running
    execution of the worker's own platform is applied."""
    if held is None or held.platform_id != report.platform_id:
        return Verdict.UNKNOWN
    if held.attempt != report.attempt:
        return Verdict.STALE
    if held.status is not ExecutionStatus.RUNNING:
        return Verdict.REPEATED
    return Verdict.APPLY


def settle_report(
    held: Held,
    report: Report,
    now: datetime,
    rng: random.Random,
    cap: timedelta = DEFAULT_RETRY_CAP,
) -> Settlement:
    """A success, or a failure retried when retries remain and the worker did
    not say `retryable: false`."""
    if report.succeeded:
        return Settlement(held, Ending.SUCCEEDED, now, result=report.result or {})
    final = Ending.FAILED if not report.retryable else None
    return _failure(held, now, rng, cap, report.error, report.error_stack, final)


def settle_timeout(
    held: Held, now: datetime, rng: random.Random, cap: timedelta = DEFAULT_RETRY_CAP
) -> Settlement:
    """Past its deadline: retried when retries remain, else `timeout`."""
    seconds = held.timeout / timedelta(seconds=1)
    error = f"timed out after {seconds:g}s"
    return _failure(held, now, rng, cap, error, "", None, exhausted=Ending.TIMED_OUT)


def settle_lost(held: Held, now: datetime, why: str) -> Settlement:
    """The worker vanished (lease expired, stream broken): the attempt failed.

    It uses up a retry, as any failure does, so a handler that kills its worker
    cannot be redelivered forever; but it is redelivered at once, without the
    backoff, since nothing says the next worker will fail too."""
    error = f"worker lost: {why}"
    if held.retry_count < held.max_retries:
        return Settlement(held, Ending.RETRYING, now, now, None, error, None)
    return Settlement(held, Ending.FAILED, now, None, None, error, None)


def _failure(
    held: Held,
    now: datetime,
    rng: random.Random,
    cap: timedelta,
    error: str,
    error_stack: str,
    final: Ending | None,
    exhausted: Ending = Ending.FAILED,
) -> Settlement:
    if final is None and held.retry_count < held.max_retries:
        due = now + retry_delay(held.retry_delay, held.retry_count, rng, cap)
        return Settlement(held, Ending.RETRYING, now, due, None, error, error_stack or None)
    return Settlement(held, final or exhausted, now, None, None, error, error_stack or None)


def settle_reports(
    held: dict[str, Held],
    reports: Sequence[Report],
    now: datetime,
    rng: random.Random,
    cap: timedelta = DEFAULT_RETRY_CAP,
) -> tuple[list[Verdict], list[Settlement]]:
    """Judges a batch of results in arrival order: one verdict per report, and
    the settlements to write. A result repeated within the batch is judged
    against the first one's outcome, so it is REPEATED (or STALE), not applied
    twice."""
    current = dict(held)
    verdicts: list[Verdict] = []
    settled: list[Settlement] = []
    # Only an execution named again later in the batch needs the state its
    # settlement leaves (a copy per row costs more than judging it).
    named_again = _named_more_than_once(reports)
    for report in reports:
        row = current.get(report.execution_id)
        verdict = judge(row, report)
        verdicts.append(verdict)
        if verdict is Verdict.APPLY and row is not None:
            settlement = settle_report(row, report, now, rng, cap)
            settled.append(settlement)
            if row.id in named_again:
                current[row.id] = after(settlement)
    return verdicts, settled


def _named_more_than_once(reports: Sequence[Report]) -> set[str]:
    ids = [r.execution_id for r in reports]
    if len(set(ids)) == len(ids):
        return set()
    return {execution_id for execution_id, n in Counter(ids).items() if n > 1}


def after(settlement: Settlement) -> Held:
    """The execution as the settlement leaves it."""
    held = settlement.held
    if settlement.ending is Ending.RETRYING:
        return replace(held, status=ExecutionStatus.PENDING, attempt=held.attempt + 1)
    return replace(held, status=settlement.status)
