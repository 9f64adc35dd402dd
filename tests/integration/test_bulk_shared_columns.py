"""The bulk statements on Postgres (store.bulk_postgres) send a column whose
value every row of a batch shares as one scalar: each row must still get
its own values, the shared ones, and no row may be lost or doubled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cronstream_server.core.enums import ExecutionStatus
from cronstream_server.store import bulk_postgres
from cronstream_server.store.tables import job_execution_logs, job_executions
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.test_retention import History
from tests.integration.test_settle_plans import engine

__all__ = ["engine"]  # the fixture: Postgres only


def _start(execution_id: str, attempt: int, history: History, trace: str) -> dict[str, Any]:
    return {
        "b_id": execution_id,
        "b_attempt": attempt,
        "b_worker_id": "worker-a",
        "b_session_id": "session-a",
        "b_started_at": history.now,
        "b_lease_expires_at": history.now + timedelta(seconds=30),
        "b_deadline_at": history.now + timedelta(minutes=5),
        "b_trace_id": trace * 32,
        "b_span_id": trace * 16,
        "b_parent_span_id": None,
    }


async def test_each_claimed_row_gets_its_own_trace_and_the_shared_worker(
    engine: AsyncEngine,
) -> None:
    history = await History.make(engine)
    ids = await history.add(ExecutionStatus.PENDING, None, count=3)
    starts = [_start(ids[0], 1, history, "a"), _start(ids[1], 1, history, "b")]
    starts.append(_start(ids[2], 2, history, "c"))  # a stale attempt: fenced out
    async with engine.begin() as conn:
        await bulk_postgres.mark_running(conn, starts)
        rows = (
            await conn.execute(
                select(
                    job_executions.c.id,
                    job_executions.c.status,
                    job_executions.c.worker_id,
                    job_executions.c.trace_id,
                    job_executions.c.lease_expires_at,
                ).where(job_executions.c.id.in_(ids))
            )
        ).all()

    by_id = {str(r.id): r for r in rows}
    assert [by_id[i].status for i in ids] == ["running", "running", "pending"]
    assert [by_id[i].worker_id for i in ids] == ["worker-a", "worker-a", None]
    assert [by_id[i].trace_id for i in ids] == ["a" * 32, "b" * 32, None]
    assert by_id[ids[0]].lease_expires_at == history.now + timedelta(seconds=30)


async def test_identical_log_lines_are_all_kept(engine: AsyncEngine) -> None:
    """Every column of these lines is shared but the key's array keeps one
    row per line: a worker that logs the same line twice sees it twice."""
    history = await History.make(engine)
    [execution_id] = await history.add(ExecutionStatus.RUNNING, None)
    line = {
        "execution_id": execution_id,
        "timestamp": history.now,
        "level": "info",
        "message": "tick",
        "attempt": 1,
    }
    async with engine.begin() as conn:
        await bulk_postgres.insert_logs(conn, [line, dict(line), dict(line)])
        messages = (
            await conn.execute(
                select(job_execution_logs.c.message).where(
                    job_execution_logs.c.execution_id == execution_id,
                    job_execution_logs.c.timestamp == history.now,
                )
            )
        ).scalars()
        assert list(messages) == ["tick", "tick", "tick"]


async def test_batches_of_many_shapes_write_the_same_rows(engine: AsyncEngine) -> None:
    """Which columns are shared differs from batch to batch; past the shapes
    a statement keeps prepared, a batch goes as arrays only, to the same
    effect."""
    history = await History.make(engine)
    ids = await history.add(ExecutionStatus.PENDING, None, count=24)
    batches = [ids[i : i + 2] for i in range(0, 24, 2)]
    async with engine.begin() as conn:
        for index, batch in enumerate(batches):
            starts = [_start(i, 1, history, "f") for i in batch]
            # The second row differs in the columns of index + 1's bits: a
            # new shape for every batch, twelve in all.
            columns = list(starts[0])[2:9]  # worker_id .. span_id
            for bit, column in enumerate(columns):
                if (index + 1) >> bit & 1:
                    starts[1] = {**starts[1], column: None}
            await bulk_postgres.mark_running(conn, starts)
        statuses = (
            await conn.execute(select(job_executions.c.status).where(job_executions.c.id.in_(ids)))
        ).scalars()
        assert list(statuses) == ["running"] * 24
    assert len(bulk_postgres._MARK_RUNNING._shapes) == bulk_postgres._MOST_SHAPES


async def test_results_equal_in_python_but_not_in_json_are_each_kept(
    engine: AsyncEngine,
) -> None:
    """True == 1 in Python: were the results compared as values, the second
    would be stored as the first's `true`."""
    history = await History.make(engine)
    ids = await history.add(ExecutionStatus.RUNNING, None, count=2)
    outcomes = [{"n": True}, {"n": 1}]
    rows = [
        {"b_id": i, "b_attempt": 1, "b_result": r, "b_at": history.now, "b_duration_ms": 5}
        for i, r in zip(ids, outcomes, strict=True)
    ]
    async with engine.begin() as conn:
        await bulk_postgres.succeed(conn, rows)
        stored = dict(
            (
                await conn.execute(
                    select(job_executions.c.id, job_executions.c.result).where(
                        job_executions.c.id.in_(ids)
                    )
                )
            ).all()
        )
    assert [stored[i] for i in ids] == outcomes
    assert [type(stored[i]["n"]) for i in ids] == [bool, int]
