"""The statements every batch of results runs, as Postgres plans them: each
reaches the rows it needs through an index, whatever the batch's size and
however long the jobs' histories.

The tables here are small, where a sequential scan is cheapest, so the plans
are taken with sequential scans disabled: what is checked is which index the
planner picks among those whose predicates match."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from cronstream_server.core.enums import ExecutionStatus
from cronstream_server.core.ids import new_id
from cronstream_server.store.buffered import release_buffered
from cronstream_server.store.database import create_engine, dialect_of
from cronstream_server.store.queries_dispatch import lock_held
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.integration.test_retention import History


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    if engine.dialect.name != "postgresql":
        await engine.dispose()
        pytest.skip("the plans are Postgres's")
    try:
        yield engine
    finally:
        await engine.dispose()


# How a batch's ids reach the statement (store.types.one_of): one array.
ONE_ARRAY = "IN (SELECT unnest(CAST($"


async def executed(conn: AsyncConnection, run: object) -> tuple[str, object]:
    """The statement `run` executes last, and its parameters."""
    seen: list[tuple[str, object]] = []

    def capture(_c: object, _cur: object, statement: str, params: object, *_: object) -> None:
        seen.append((statement, params))

    sync_engine = conn.sync_engine
    event.listen(sync_engine, "before_cursor_execute", capture)
    try:
        await run  # type: ignore[misc]
    finally:
        event.remove(sync_engine, "before_cursor_execute", capture)
    return seen[-1]


async def full_plan(conn: AsyncConnection, run: object) -> str:
    """Every line of the plan of the statement `run` executes, as the
    connection's settings make it."""
    statement, params = await executed(conn, run)
    explained = await conn.exec_driver_sql(f"EXPLAIN (COSTS OFF) {statement}", params)  # type: ignore[arg-type]
    return "\n".join(explained.scalars())


async def plan_of(conn: AsyncConnection, run: object) -> tuple[str, str]:
    """The statement `run` executes, and its plan for the same parameters."""
    statement, params = await executed(conn, run)
    await conn.execute(text("SET LOCAL enable_seqscan = off"))
    explained = await conn.exec_driver_sql(f"EXPLAIN (COSTS OFF) {statement}", params)  # type: ignore[arg-type]
    # The plan's node lines, without the filter that lists every id.
    return statement, "\n".join(r for r in explained.scalars() if "ANY (" not in r)


async def test_releasing_buffered_executions_reads_only_the_buffered_index(
    engine: AsyncEngine,
) -> None:
    """A job with a long history (a per-second job keeps 2.6 million executions
    over 30 days), and a backlog of pending work: neither is read to find the
    one execution, if any, waiting behind a job's running one."""
    history = await History.make(engine)
    await history.add(ExecutionStatus.SUCCESS, timedelta(hours=1), count=3_000)
    await history.add(ExecutionStatus.PENDING, None, count=20_000)
    job_ids = [history.job.id] + [new_id() for _ in range(999)]
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE job_executions"))
        statement, plan = await plan_of(
            conn, release_buffered(conn, dialect_of(conn), job_ids, history.now)
        )
        await conn.rollback()

    assert ONE_ARRAY in statement  # one statement, one parameter, for any count
    assert "Index Scan using ix_job_executions_buffered" in plan, plan


async def test_locking_results_names_the_rows_by_one_array(engine: AsyncEngine) -> None:
    ids = [new_id() for _ in range(1000)]
    async with engine.begin() as conn:
        statement, plan = await plan_of(conn, lock_held(conn, dialect_of(conn), ids))
        await conn.rollback()

    assert ONE_ARRAY in statement
    assert "pk_job_executions" in plan, plan
    assert "Seq Scan" not in plan, plan


async def test_locking_results_never_searches_the_ids_row_by_row(engine: AsyncEngine) -> None:
    """The plan Postgres keeps for a prepared statement (generic), made while
    the table is small, as a fresh database's first results find it: with
    `id = ANY($1)` it was a scan of the table searching the array once per
    row (4-9 s for 1,000 ids in 40,000 executions); as a set, a join."""
    ids = [new_id() for _ in range(1000)]
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        plan = await full_plan(conn, lock_held(conn, dialect_of(conn), ids))
        await conn.rollback()

    assert "= ANY (" not in plan, plan  # no per-row search of the array
    assert "Join" in plan or "Nested Loop" in plan, plan
