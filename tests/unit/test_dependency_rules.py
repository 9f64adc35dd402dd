"""core.dependencies: the graph's refusals and the gate's judgement, pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cronstream_server.core.dependencies import (
    DependencyGraph,
    GateBatch,
    SlotSeen,
    Upstream,
    WaitingSlot,
    graph_check,
    holds,
    plan,
    problems,
    span,
)
from cronstream_server.core.enums import ExecutionStatus, HealthState, JobStatus
from cronstream_server.core.errors import FieldViolation, InvalidArgument
from cronstream_server.core.ids import new_id
from cronstream_server.core.jobs import Job, JobSpec
from cronstream_server.core.triggers import CronTrigger

T = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
EXPORT, LOAD, REPORT = new_id(), new_id(), new_id()
NAMES = {EXPORT: "export", LOAD: "load", REPORT: "report"}


def job(job_id: str, *depends_on: str) -> Job:
    spec = JobSpec(NAMES.get(job_id, "x"), "h", CronTrigger("0 2 * * *"), depends_on=depends_on)
    return Job(job_id, "p", spec, JobStatus.ACTIVE, "key", T, T)


# --- the graph --------------------------------------------------------------


def test_an_edge_that_closes_a_cycle_is_named_by_names_and_ids() -> None:
    graph = DependencyGraph(NAMES, {REPORT: (LOAD,), LOAD: (EXPORT,)})
    assert problems(graph, job(EXPORT, REPORT), "job") == [
        FieldViolation(
            "job.depends_on[0]",
            f"cycle: export ({EXPORT}) -> report ({REPORT}) -> load ({LOAD}) -> export ({EXPORT})",
        )
    ]


def test_a_job_depending_on_itself_is_a_cycle_of_one() -> None:
    graph = DependencyGraph(NAMES, {})
    assert problems(graph, job(EXPORT, EXPORT), "job") == [
        FieldViolation("job.depends_on[0]", f"cycle: export ({EXPORT}) -> export ({EXPORT})")
    ]


def test_a_diamond_is_no_cycle_and_an_edge_replaced_no_longer_counts() -> None:
    # report -> load -> export and report -> export: two paths, no loop.
    graph = DependencyGraph(NAMES, {LOAD: (EXPORT,)})
    assert problems(graph, job(REPORT, LOAD, EXPORT), "job") == []
    # export -> report would close a loop through load, unless load's edge is
    # the one being replaced by the change itself.
    graph = DependencyGraph(NAMES, {REPORT: (LOAD,), LOAD: (EXPORT,)})
    assert problems(graph, job(LOAD), "job") == []


def test_ids_the_graph_does_not_know_are_refused_each_by_its_index() -> None:
    stranger = new_id()  # unknown, or another platform's: the store never names it
    graph = DependencyGraph({EXPORT: "export"}, {})
    check = graph_check(lambda index: f"requests[{index}].job")
    with pytest.raises(InvalidArgument) as raised:
        check(graph, [(0, job(REPORT, EXPORT)), (3, job(LOAD, EXPORT, stranger))])
    assert raised.value.violations == [
        FieldViolation("requests[3].job.depends_on[1]", "is not a job of this platform")
    ]


# --- the gate ---------------------------------------------------------------


def slot(**changes: object) -> WaitingSlot:
    base = WaitingSlot(
        id="e1",
        platform_id="p",
        job_id=REPORT,
        job_name="report",
        handler_name="send_report",
        scheduled_at=T,
        due_at=T,
        wait_deadline=T + timedelta(hours=1),
        waiting_for=(EXPORT,),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


SUCCEEDED = SlotSeen(T, ExecutionStatus.SUCCESS)


def export(
    status: JobStatus = JobStatus.ACTIVE,
    next_run: datetime | None = T + timedelta(days=1),
    latest: SlotSeen | None = SUCCEEDED,
) -> Upstream:
    return Upstream(EXPORT, "export", status, next_run, latest)


def test_what_holds_a_slot_back() -> None:
    waiting = slot()
    assert holds(export(), waiting.scheduled_at) is None
    # Its slot at T has not fired: the latest before it must not decide.
    assert (
        holds(export(next_run=T), waiting.scheduled_at)
        == "its slot of 2026-12-06T02:00:00Z has not fired yet"
    )
    failed = SlotSeen(T - timedelta(hours=1), ExecutionStatus.FAILED)
    assert (
        holds(export(latest=failed), waiting.scheduled_at) == "its 2026-12-06T01:00:00Z slot failed"
    )
    running = SlotSeen(T, ExecutionStatus.RUNNING)
    assert (
        holds(export(latest=running), waiting.scheduled_at)
        == "its 2026-12-06T02:00:00Z slot is still running"
    )
    # No slot at or before T (a newer job, an event job): nothing to wait for.
    assert holds(export(latest=None), waiting.scheduled_at) is None
    # A paused dependency fires no more slots: its latest decides.
    assert holds(export(JobStatus.PAUSED, next_run=T, latest=None), waiting.scheduled_at) is None


def test_a_released_slot_is_due_when_released_or_at_its_instant_if_later() -> None:
    late = T + timedelta(seconds=5)
    [released] = plan(GateBatch(late, [slot()], {"e1": [export()]})).released
    assert released.due_at == late  # the wait is not lateness
    early = T - timedelta(milliseconds=400)  # fired ahead, nothing to wait for
    jittered = slot(due_at=T + timedelta(seconds=2))
    [released] = plan(GateBatch(early, [jittered], {"e1": [export(latest=None)]})).released
    assert released.due_at == T + timedelta(seconds=2)


def test_past_its_deadline_a_held_slot_is_missed_with_the_reason_and_an_alert() -> None:
    failed = export(latest=SlotSeen(T, ExecutionStatus.FAILED))
    now = T + timedelta(hours=1)
    result = plan(GateBatch(now, [slot()], {"e1": [failed]}))
    assert result.released == [] and result.waiting == []
    [miss] = result.missed
    reason = f"missed: waited 1h for export ({EXPORT}): its 2026-12-06T02:00:00Z slot failed"
    assert miss.reason == reason
    [opening] = result.openings
    assert (opening.kind, opening.job_id, opening.execution_id) == (
        HealthState.MISSED,
        REPORT,
        "e1",
    )
    assert opening.reason == f"a slot skipped; the slot of {T.isoformat()} will not run ({reason})"
    quiet = plan(GateBatch(now, [slot(alert_on_missed=False)], {"e1": [failed]}))
    assert len(quiet.missed) == 1 and quiet.openings == []


def test_a_held_slot_before_its_deadline_keeps_waiting_for_what_still_holds() -> None:
    load = Upstream(LOAD, "load", JobStatus.ACTIVE, T, None)  # its slot at T not fired
    stored = slot(waiting_for=(EXPORT, LOAD))
    result = plan(GateBatch(T + timedelta(seconds=1), [stored], {"e1": [export(), load]}))
    assert [(s.id, ids) for s, ids in result.waiting] == [("e1", (LOAD,))]
    unchanged = plan(GateBatch(T, [slot(waiting_for=(LOAD,))], {"e1": [export(), load]}))
    assert unchanged.waiting == []  # nothing to rewrite


def test_a_buffered_slot_waits_for_its_jobs_run_after_its_dependencies() -> None:
    behind = slot(buffered=True, runner_busy=True)
    result = plan(GateBatch(T + timedelta(seconds=1), [behind], {"e1": [export()]}))
    assert result.released == [] and result.missed == []
    assert [(s.id, ids) for s, ids in result.waiting] == [("e1", ())]
    now = T + timedelta(seconds=9)
    free = slot(buffered=True, due_at=T + timedelta(days=3000))
    [released] = plan(GateBatch(now, [free], {"e1": [export()]})).released
    assert released.due_at == now


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=1), "1h"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(seconds=3), "3s"),
        (timedelta(days=7), "7d"),
        (timedelta(milliseconds=250), "250ms"),
    ],
)
def test_waits_are_written_as_people_write_them(value: timedelta, text: str) -> None:
    assert span(value) == text
