"""Schedules that wait for each other (docs/scheduling.md, "Dependencies"):
the graph's rules and the gate's judgement of a waiting slot. Pure.

Terms. Job J *depends on* D when D's id is in J's `depends_on` (an *edge*
J -> D). J's slot at instant t is fired WAITING and released to PENDING once,
for every D, *D's slot for t* does not hold it back:

- while D is active and its `next_run` is at or before t, D has a slot at or
  before t still to fire: it holds (the two jobs may share the instant t, and
  the ticker may fire J's slot before D's);
- otherwise D's slot for t is D's latest schedule or backfill execution with
  `scheduled_at <= t`: it holds unless it is SUCCESS. No such execution (D
  is newer than t, or an event job, which has no slots) holds nothing back.

A slot is the key, not an attempt: a failed slot of D that RetryExecution
brings to success releases J's slot, if it is still waiting. A WAITING slot
past its `wait_deadline` while something holds it is SKIPPED as missed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from datetime import datetime, timedelta

from cronstream_server.core.alerts import Opening
from cronstream_server.core.enums import ExecutionStatus, HealthState, JobStatus
from cronstream_server.core.errors import FieldViolation
from cronstream_server.core.health import missed_reason
from cronstream_server.core.jobs import Job
from cronstream_server.core.validation import raise_if_any
from cronstream_server.core.values import value_type

NOT_OURS = "is not a job of this platform"

# --- the graph --------------------------------------------------------------


@value_type
class DependencyGraph:
    """A platform's edges as stored, and the names of the jobs a check may
    mention: every job with an edge and every job a request names that
    exists in the platform (another platform's is simply absent)."""

    names: Mapping[str, str] = field(default_factory=dict)  # job id -> name
    edges: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # id -> depends_on


# Called by the store, inside the transaction that writes the edges, with
# the graph as it stood and the jobs (with their index in the request) whose
# edges are about to be written. Raises InvalidArgument.
GraphCheck = Callable[[DependencyGraph, Sequence[tuple[int, Job]]], None]


def graph_check(prefix: Callable[[int], str]) -> GraphCheck:
    """A GraphCheck naming the fields of job `i` under `prefix(i)`
    ("job" for CreateJob and UpdateJob, "requests[i].job" in a batch)."""

    def check(graph: DependencyGraph, jobs: Sequence[tuple[int, Job]]) -> None:
        violations: list[FieldViolation] = []
        for index, job in jobs:
            violations += problems(graph, job, prefix(index))
        raise_if_any(violations)

    return check


CHECK_ONE_JOB = graph_check(lambda _: "job")


def problems(graph: DependencyGraph, job: Job, prefix: str) -> list[FieldViolation]:
    """Why `job`'s depends_on cannot be stored over `graph`: a name that is not
    a job of the platform, or an edge that closes a cycle (the first one
    found, named by job names and ids)."""
    found: list[FieldViolation] = []
    names = {**graph.names, job.id: job.spec.name}
    edges = {**graph.edges, job.id: job.spec.depends_on}
    for index, target in enumerate(job.spec.depends_on):
        path = f"{prefix}.depends_on[{index}]"
        if target not in names:
            found.append(FieldViolation(path, NOT_OURS))
            continue
        back = _route(edges, target, job.id)
        if back is not None and not any(v.description.startswith("cycle") for v in found):
            loop = [job.id, *back]
            found.append(FieldViolation(path, "cycle: " + " -> ".join(_named(names, loop))))
    return found


def _route(edges: Mapping[str, tuple[str, ...]], start: str, goal: str) -> list[str] | None:
    """A path of edges from `start` to `goal` (both included), depth first in
    the stored order of each job's depends_on; None when there is none."""
    came_from: dict[str, str | None] = {start: None}
    stack = [start]
    while stack:
        here = stack.pop()
        if here == goal:
            path = [here]
            while (previous := came_from[path[-1]]) is not None:
                path.append(previous)
            return path[::-1]
        for after in reversed(edges.get(here, ())):
            if after not in came_from:
                came_from[after] = here
                stack.append(after)
    return None


def _named(names: Mapping[str, str], ids: Sequence[str]) -> list[str]:
    return [f"{names.get(job_id, '?')} ({job_id})" for job_id in ids]


# --- the gate ---------------------------------------------------------------


@value_type
class SlotSeen:
    """A dependency's latest slot at or before the waiting slot's instant."""

    scheduled_at: datetime
    status: ExecutionStatus


@value_type
class Upstream:
    """A dependency D as the gate sees it for one waiting slot."""

    job_id: str
    name: str
    status: JobStatus
    next_run: datetime | None
    latest: SlotSeen | None  # D's latest slot at or before the waiting slot's instant


@value_type
class WaitingSlot:
    """A WAITING execution, with what the gate needs of its job."""

    id: str
    platform_id: str
    job_id: str
    job_name: str
    handler_name: str
    scheduled_at: datetime
    due_at: datetime
    wait_deadline: datetime
    waiting_for: tuple[str, ...]
    # BUFFER_ONE: the slot also waits behind its job's unfinished run
    # (store.buffered); `runner_busy` says whether that run still goes.
    buffered: bool = False
    runner_busy: bool = False
    alert_on_missed: bool | None = None  # the job's own setting


@value_type
class Release:
    """To PENDING, dispatchable from `due_at`."""

    slot: WaitingSlot
    due_at: datetime


@value_type
class Miss:
    """To SKIPPED: the deadline passed while `reason` held."""

    slot: WaitingSlot
    reason: str


@value_type
class GatePlan:
    released: list[Release] = field(default_factory=list)
    missed: list[Miss] = field(default_factory=list)
    # Still waiting, for other dependencies than the stored waiting_for.
    waiting: list[tuple[WaitingSlot, tuple[str, ...]]] = field(default_factory=list)
    openings: list[Opening] = field(default_factory=list)  # MISSED alerts


@value_type
class GateBatch:
    """What one pass of the gate locked, as its `decide` callback sees it."""

    now: datetime  # the database's clock
    slots: Sequence[WaitingSlot]
    # By execution id: the slot's dependencies in the order its job names
    # them (one deleted since, with its edge, is no longer among them).
    upstream: Mapping[str, Sequence[Upstream]]


@value_type
class Gated:
    """One pass of the gate (GateStore.gate)."""

    now: datetime
    plan: GatePlan
    seen: int  # waiting slots locked and judged
    last: tuple[datetime, str] | None  # (wait_deadline, id) of the last one seen


GateDecide = Callable[[GateBatch], GatePlan]


def plan(batch: GateBatch) -> GatePlan:
    """What the gate does with each waiting slot of `batch`."""
    result = GatePlan()
    now = batch.now
    upstream = batch.upstream
    for slot in batch.slots:
        found = ((u, holds(u, slot.scheduled_at)) for u in upstream.get(slot.id, ()))
        holding = [(u, why) for u, why in found if why is not None]
        if not holding:
            if slot.buffered and slot.runner_busy:
                _still(result, slot, ())
            else:
                result.released.append(Release(slot, _release_at(slot, now)))
        elif now >= slot.wait_deadline:
            miss = Miss(slot, missed_because(slot, holding))
            result.missed.append(miss)
            if slot.alert_on_missed is not False:  # else: the platform's say
                result.openings.append(missed_opening(miss, now))
        else:
            _still(result, slot, tuple(u.job_id for u, _ in holding))
    return result


def _still(result: GatePlan, slot: WaitingSlot, waiting_for: tuple[str, ...]) -> None:
    if waiting_for != slot.waiting_for:
        result.waiting.append((slot, waiting_for))


def _release_at(slot: WaitingSlot, now: datetime) -> datetime:
    """Due when released, not at its instant: the wait was not lateness (a
    LATE alert counts from here), and a slot released before its instant
    (its dependencies had nothing to wait for) keeps its instant and jitter."""
    return now if slot.buffered else max(slot.due_at, now)


def holds(upstream: Upstream, t: datetime) -> str | None:
    """Why dependency `upstream` holds back the slot of instant `t`, or None
    when it does not."""
    next_run = upstream.next_run
    if upstream.status is JobStatus.ACTIVE and next_run is not None and next_run <= t:
        return f"its slot of {_instant(next_run)} has not fired yet"
    latest = upstream.latest
    if latest is None or latest.status is ExecutionStatus.SUCCESS:
        return None
    return f"its {_instant(latest.scheduled_at)} slot {_STATE[latest.status]}"


_STATE = {
    ExecutionStatus.WAITING: "is itself waiting",
    ExecutionStatus.PENDING: "has not started",
    ExecutionStatus.RUNNING: "is still running",
    ExecutionStatus.FAILED: "failed",
    ExecutionStatus.TIMEOUT: "timed out",
    ExecutionStatus.CANCELLED: "was cancelled",
    ExecutionStatus.SKIPPED: "was skipped",
}


def missed_because(slot: WaitingSlot, holding: Sequence[tuple[Upstream, str]]) -> str:
    """The skipped slot's error: "missed: waited 1h for export (id): its
    2026-12-06T02:00:00Z slot failed" (and "; for ..." per other holder)."""
    waited = span(slot.wait_deadline - slot.scheduled_at)
    parts = [f"{u.name} ({u.job_id}): {why}" for u, why in holding]
    return f"missed: waited {waited} for " + "; for ".join(parts)


def missed_opening(miss: Miss, now: datetime) -> Opening:
    """The MISSED alert of a slot the gate skipped, worded as the ticker's."""
    slot = miss.slot
    return Opening(
        platform_id=slot.platform_id,
        job_id=slot.job_id,
        job_name=slot.job_name,
        handler_name=slot.handler_name,
        kind=HealthState.MISSED,
        reason="a slot skipped; " + missed_reason(miss.reason, slot.scheduled_at),
        execution_id=slot.id,
        scheduled_at=slot.scheduled_at,
    )


def _instant(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def span(value: timedelta) -> str:
    """1h, 1h30m, 90 s as 1m30s, 250ms: a wait as people write it."""
    if value < timedelta(seconds=1):
        return f"{value // timedelta(milliseconds=1)}ms"
    seconds = int(value.total_seconds())
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    parts = zip((days, hours, minutes, seconds), "dhms", strict=True)
    return "".join(f"{n}{unit}" for n, unit in parts if n)
