"""Retention on SQL: deletes finished executions past the retention, one
bounded batch per transaction.

A batch is one statement:

    DELETE FROM job_executions
    WHERE id IN (SELECT id FROM job_executions
                 WHERE status IN (<finished>) AND completed_at < :before
                 ORDER BY completed_at LIMIT :n
                 FOR UPDATE SKIP LOCKED)          -- Postgres only
      AND status IN (<finished>) AND completed_at < :before

- The subquery is a range scan of ix_job_executions_completed that stops
  at its LIMIT, so a pass reads what it deletes, not the table. (SQLite
  has no DELETE ... LIMIT unless compiled with it; a LIMIT in a subquery it
  has everywhere.)
- SKIP LOCKED: a row that RetryExecution is bringing back to pending right
  now is left alone, not waited for; the outer WHERE repeats the condition
  so the statement is right on its own, whatever the subquery's locking.
- Logs go with their execution (ON DELETE CASCADE, through the index on
  job_execution_logs.execution_id).
- `before` is the database's clock minus the retention, so replicas with
  skewed clocks agree on what is old.
- Where the database has advisory locks (Postgres), one replica deletes at
  a time; the others skip their turn.

TriggerEvent's idempotency records (`event_deliveries`) go the same way once
as old: each names the executions its first call created, which retention
deletes then, so a request id is deduplicated as long as those executions
are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Delete, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.core.enums import AlertState
from cronstream_server.core.retention import FINISHED
from cronstream_server.core.webhook_delivery import DeliveryStatus
from cronstream_server.store.clock import database_now
from cronstream_server.store.database import Dialect, dialect_of
from cronstream_server.store.errors import database_errors
from cronstream_server.store.tables import (
    alerts,
    event_deliveries,
    job_executions,
    webhook_deliveries,
)

executions = job_executions

# One replica deletes at a time (advisory locks): the others find this
# transaction-scoped advisory lock taken and skip their turn rather than
# compete for the same rows and the same I/O. Any constant unique to this
# use within the database will do.
ADVISORY_LOCK_KEY = int.from_bytes(b"cs.reten", "big")


class SqlRetentionStore:
    """RetentionStore (core.ports) on SQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    async def delete_finished(self, keep: timedelta, limit: int) -> int:
        async with database_errors(), self._engine.begin() as conn:
            if not await _take_turn(conn, self._dialect):
                return 0
            before = await database_now(conn, self._dialect) - keep
            result = await conn.execute(delete_batch(before, limit))
        return int(result.rowcount)

    async def delete_old_deliveries(self, keep: timedelta, limit: int) -> int:
        async with database_errors(), self._engine.begin() as conn:
            if not await _take_turn(conn, self._dialect):
                return 0
            before = await database_now(conn, self._dialect) - keep
            result = await conn.execute(delete_deliveries(before, limit))
        return int(result.rowcount)

    async def delete_old_alerts(self, keep: timedelta, limit: int) -> int:
        return await self._batch(keep, lambda before: delete_alerts(before, limit))

    async def delete_old_webhook_deliveries(self, keep: timedelta, limit: int) -> int:
        return await self._batch(keep, lambda before: delete_webhook_deliveries(before, limit))

    async def _batch(self, keep: timedelta, statement: Callable[[datetime], Delete]) -> int:
        async with database_errors(), self._engine.begin() as conn:
            if not await _take_turn(conn, self._dialect):
                return 0
            before = await database_now(conn, self._dialect) - keep
            result = await conn.execute(statement(before))
        return int(result.rowcount)


async def _take_turn(conn: AsyncConnection, dialect: Dialect) -> bool:
    if not dialect.advisory_locks:
        return True  # SQLite: one process, and every transaction holds the write lock
    taken = await conn.execute(select(func.pg_try_advisory_xact_lock(ADVISORY_LOCK_KEY)))
    return bool(taken.scalar_one())


def delete_batch(before: datetime, limit: int) -> Delete:
    finished = (
        executions.c.status.in_([status.value for status in FINISHED]),
        executions.c.completed_at < before,
    )
    oldest = (
        select(executions.c.id)
        .where(*finished)
        .order_by(executions.c.completed_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # rendered on Postgres only
    )
    return delete(executions).where(executions.c.id.in_(oldest), *finished)


def delete_deliveries(before: datetime, limit: int) -> Delete:
    # The table's key is (platform_id, request_id): its unique index finds
    # each row the range scan of ix_event_deliveries_created_at picked.
    key = tuple_(event_deliveries.c.platform_id, event_deliveries.c.request_id)
    oldest = (
        select(event_deliveries.c.platform_id, event_deliveries.c.request_id)
        .where(event_deliveries.c.created_at < before)
        .order_by(event_deliveries.c.created_at)
        .limit(limit)
    )
    return delete(event_deliveries).where(key.in_(oldest))


def delete_alerts(before: datetime, limit: int) -> Delete:
    """Resolved alerts, oldest resolution first; their events go with them
    (ON DELETE CASCADE). Alerts are few: no index of their own is needed."""
    resolved = (alerts.c.state == AlertState.RESOLVED.value, alerts.c.resolved_at < before)
    oldest = select(alerts.c.id).where(*resolved).order_by(alerts.c.resolved_at).limit(limit)
    return delete(alerts).where(alerts.c.id.in_(oldest), *resolved)


def delete_webhook_deliveries(before: datetime, limit: int) -> Delete:
    """Deliveries that ended, oldest first; their attempts go with them."""
    ended = (
        webhook_deliveries.c.status.in_(
            [DeliveryStatus.SUCCEEDED.value, DeliveryStatus.FAILED.value]
        ),
        webhook_deliveries.c.created_at < before,
    )
    oldest = (
        select(webhook_deliveries.c.id)
        .where(*ended)
        .order_by(webhook_deliveries.c.created_at)
        .limit(limit)
    )
    return delete(webhook_deliveries).where(webhook_deliveries.c.id.in_(oldest), *ended)
