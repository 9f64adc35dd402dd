"""What a claim reads of each pending execution: every column `decide` and
the assignment use, as it was stored, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

from cronstream_server.core.dispatch import Pending, Start, Want
from cronstream_server.core.enums import ExecutionTrigger, Priority
from cronstream_server.core.limits import NO_KEYS, Keys
from cronstream_server.core.tracing import TraceContext

from tests.contract.conftest import HOUR, World

MINUTE = timedelta(minutes=1)


async def _candidates(world: World) -> dict[str, Pending]:
    seen: list[Pending] = []

    def record(candidates: list[Pending], _now: datetime) -> list[Start]:
        seen.extend(candidates)
        return []

    await world.dispatch.claim([Want(world.platform.id, "h", 10)], timedelta(0), record)
    return {candidate.id: candidate for candidate in seen}


async def test_a_candidate_is_its_row_as_stored(world: World) -> None:
    now = await world.now()
    job = await world.job(now + HOUR)
    keys = Keys(
        concurrency_key="tenant-7",
        concurrency_limit=3,
        rate_limit_key="export-tenant-7",
        rate_limit_template="export-{tenant}",
    )
    traced = await world.pending(
        job,
        now - 2 * MINUTE,
        trigger=ExecutionTrigger.EVENT,
        priority=Priority.HIGH,
        payload={"tenant": 7, "nested": {"list": [1, "two"]}},
        timeout=timedelta(seconds=42, milliseconds=5),
        attempt=2,
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
        trace=TraceContext("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "v=1"),
        keys=keys,
    )
    plain = await world.pending(job, now - MINUTE, trigger=ExecutionTrigger.SCHEDULE)

    found = await _candidates(world)

    assert found[traced.id] == Pending(
        id=traced.id,
        platform_id=world.platform.id,
        job_id=job.id,
        handler_name="h",
        payload={"tenant": 7, "nested": {"list": [1, "two"]}},
        priority=Priority.HIGH,
        scheduled_at=traced.scheduled_at,
        due_at=traced.due_at,
        attempt=2,
        timeout=timedelta(seconds=42, milliseconds=5),
        trigger=ExecutionTrigger.EVENT,
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        tracestate="v=1",
        keys=keys,
    )
    candidate = found[plain.id]
    assert (candidate.priority, candidate.trigger) == (plain.priority, ExecutionTrigger.SCHEDULE)
    assert candidate.timeout == plain.timeout and candidate.keys is NO_KEYS
    assert type(candidate.priority) is Priority and type(candidate.trigger) is ExecutionTrigger
