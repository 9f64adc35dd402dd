"""core.release: a backfilled slot offered to the release goes unless a
dependency holds its instant, by the rule a live slot follows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cronstream_server.core.dependencies import SlotSeen, Upstream
from cronstream_server.core.enums import ExecutionStatus, JobStatus
from cronstream_server.core.release import BackfillSlot, ReleaseBatch, plan

T = datetime(2025, 1, 1, 2, tzinfo=UTC)
NOW = datetime(2026, 12, 8, 9, tzinfo=UTC)


def slot(id: str, waiting_for: tuple[str, ...] = ()) -> BackfillSlot:
    return BackfillSlot(id, "p", "report", T, NOW - timedelta(seconds=1), False, waiting_for)


def export(latest: ExecutionStatus | None) -> Upstream:
    seen = None if latest is None else SlotSeen(T, latest)
    return Upstream("export", "export", JobStatus.ACTIVE, NOW + timedelta(hours=1), seen)


def test_a_slot_goes_unless_a_dependency_holds_its_instant() -> None:
    free, done, held, still = slot("free"), slot("done"), slot("held"), slot("still", ("export",))
    upstream = {
        "done": [export(ExecutionStatus.SUCCESS)],
        "held": [export(ExecutionStatus.FAILED)],
        "still": [export(ExecutionStatus.WAITING)],
    }
    result = plan(ReleaseBatch(NOW, [free, done, held, still], upstream))
    assert result.released == [free, done]
    # A failed slot holds forever (no deadline); waiting_for is written only
    # when it changed.
    assert result.waiting == [(held, ("export",))]
