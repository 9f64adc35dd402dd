"""BUFFER_ONE's waiting execution, as the store encodes it.

A job whose overlap policy is BUFFER_ONE keeps at most one execution waiting
behind its running one. The store keeps it pending, due at FAR_FUTURE: no
claim reaches that (claims take what is due by now plus a fraction of a
second), so it is never handed out while it waits. When the job's running
execution reaches a final status, `release_buffered` makes it due at that
instant, in the same transaction.

The marker is part of the schema: the predicate of ix_job_executions_buffered
(migration 0005, store.tables) names it, in each database's form of a time,
so that a release reads that small index alone. It never changes without a
migration.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, literal_column, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.core import executions as execution_rules
from cronstream_server.core.executions import Execution
from cronstream_server.store.database import Dialect
from cronstream_server.store.tables import job_executions
from cronstream_server.store.types import one_of

executions = job_executions

FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
# The marker as migration 0005's index predicates write it: as a timestamptz,
# and as the ISO text SQLite keeps times in.
_MARKER_SQL = "'9999-12-31 00:00:00+00'"
_MARKER_TEXT = "'9999-12-31 00:00:00.000000'"


def buffer(execution: Execution) -> Execution:
    """The pending execution as it waits: never due until released."""
    return execution_rules.due(execution, FAR_FUTURE)


def is_waiting(dialect: Dialect) -> ColumnElement[bool]:
    """Due at the marker. Literals, not parameters: only then can the planner
    match the index's predicate in every plan (a parameter hides the value
    from SQLite's planner, and from the generic plans Postgres may settle on
    for a statement the driver prepared)."""
    marker = _MARKER_TEXT if dialect.times_as_text else _MARKER_SQL
    return executions.c.due_at == literal_column(marker)


async def release_buffered(
    conn: AsyncConnection, dialect: Dialect, job_ids: Sequence[str], now: datetime
) -> None:
    """The waiting execution of each job becomes due `now`. Called, in the
    same transaction, when a job's execution reaches a final status (every
    batch of results; an execution updated to a final status)."""
    if not job_ids:
        return
    waiting = and_(
        one_of(executions.c.job_id, job_ids, dialect.uuid_arrays),
        executions.c.status == literal_column("'pending'"),
        is_waiting(dialect),
    )
    await conn.execute(update(executions).where(waiting).values(due_at=now))
