"""Dispatch rules without a database: planning, fencing verdicts, settlements."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from cronstream_server.core.dispatch import (
    Ending,
    Held,
    Pending,
    Report,
    Seat,
    Verdict,
    Want,
    judge,
    plan,
    settle_reports,
    settle_timeout,
    wants,
)
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger, Priority

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def pending(id: str, priority: Priority = Priority.MEDIUM, due: int = 0, **kw: object) -> Pending:
    fields: dict[str, object] = {
        "platform_id": "p1",
        "job_id": "j",
        "handler_name": "h",
        "payload": None,
        "scheduled_at": NOW,
        "attempt": 1,
        "timeout": timedelta(minutes=5),
        "trigger": ExecutionTrigger.SCHEDULE,
    }
    fields.update(kw)
    return Pending(id=id, priority=priority, due_at=NOW + timedelta(seconds=due), **fields)  # type: ignore[arg-type]


def seat(id: str, free: int, handlers: tuple[str, ...] = ("h",), platform: str = "p1") -> Seat:
    return Seat(id, f"worker-{id}", platform, frozenset(handlers), free)


def held(**kw: object) -> Held:
    fields: dict[str, object] = {
        "id": "e1",
        "platform_id": "p1",
        "job_id": "j",
        "trigger": ExecutionTrigger.SCHEDULE,
        "status": ExecutionStatus.RUNNING,
        "attempt": 1,
        "retry_count": 0,
        "max_retries": 2,
        "retry_delay": timedelta(seconds=10),
        "timeout": timedelta(seconds=30),
        "started_at": NOW - timedelta(seconds=3),
    }
    fields.update(kw)
    return Held(**fields)  # type: ignore[arg-type]


def test_wants_add_up_free_slots_per_platform_handler_and_cap_them() -> None:
    seats = [
        seat("a", 3, ("h", "g")),
        seat("b", 2),
        seat("c", 0, ("x",)),
        seat("d", 9, ("h",), "p2"),
    ]
    assert wants(seats, batch=4) == [Want("p1", "g", 3), Want("p1", "h", 4), Want("p2", "h", 4)]


def test_plan_goes_by_priority_then_due_time_within_free_slots() -> None:
    found = [
        pending("low", Priority.LOW),
        pending("late", Priority.HIGH, due=5),
        pending("crit", Priority.CRITICAL, due=9),
        pending("early", Priority.HIGH, due=1),
    ]
    chosen = plan(found, [seat("a", 3)])
    assert [c.id for c, _ in chosen] == ["crit", "early", "late"]


def test_plan_spreads_work_and_respects_platforms_and_handlers() -> None:
    found = [pending(f"e{i}") for i in range(4)] + [pending("other", platform_id="p2")]
    found.append(pending("g", handler_name="g"))
    seats = [seat("a", 2), seat("b", 3), seat("c", 5, ("g",), "p2")]
    chosen = {c.id: s.session_id for c, s in plan(found, seats)}
    assert sorted(chosen) == ["e0", "e1", "e2", "e3"]
    assert sorted(chosen.values()) == ["a", "a", "b", "b"]


def test_judge_fences_by_platform_attempt_and_status() -> None:
    report = Report("p1", "e1", 1, succeeded=True)
    assert judge(None, report) is Verdict.UNKNOWN
    assert judge(held(platform_id="p2"), report) is Verdict.UNKNOWN
    assert judge(held(attempt=2), report) is Verdict.STALE
    assert judge(held(status=ExecutionStatus.SUCCESS), report) is Verdict.REPEATED
    assert judge(held(), report) is Verdict.APPLY


def test_a_result_repeated_within_one_batch_is_applied_once() -> None:
    ok = Report("p1", "e1", 1, succeeded=True, result={"n": 1})
    verdicts, settled = settle_reports({"e1": held()}, [ok, ok], NOW, random.Random(1))
    assert verdicts == [Verdict.APPLY, Verdict.REPEATED]
    (only,) = settled
    assert (only.ending, only.result, only.duration_ms) == (Ending.SUCCEEDED, {"n": 1}, 3000)


def test_failures_retry_with_backoff_until_retries_or_retryability_run_out() -> None:
    fail = Report("p1", "e1", 1, succeeded=False, error="x")
    _, (retry,) = settle_reports({"e1": held(retry_count=1)}, [fail], NOW, random.Random(1))
    assert retry.ending is Ending.RETRYING and retry.status is ExecutionStatus.PENDING
    assert retry.due_at is not None
    assert timedelta(seconds=16) <= retry.due_at - NOW <= timedelta(seconds=24)
    _, (last,) = settle_reports({"e1": held(retry_count=2)}, [fail], NOW, random.Random(1))
    assert last.ending is Ending.FAILED and last.fails_one_time_job
    final = Report("p1", "e1", 1, succeeded=False, error="x", retryable=False)
    _, (at_once,) = settle_reports({"e1": held()}, [final], NOW, random.Random(1))
    assert at_once.ending is Ending.FAILED and at_once.error == "x"


def test_a_missed_deadline_retries_then_times_out() -> None:
    assert settle_timeout(held(), NOW, random.Random(1)).ending is Ending.RETRYING
    out = settle_timeout(
        held(retry_count=2, trigger=ExecutionTrigger.MANUAL), NOW, random.Random(1)
    )
    assert (out.ending, out.status, out.error) == (
        Ending.TIMED_OUT,
        ExecutionStatus.TIMEOUT,
        "timed out after 30s",
    )
    assert not out.fails_one_time_job  # only the job's own scheduled slot fails a one-time job
