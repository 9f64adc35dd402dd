"""What one replica reads for the whole cluster's gauges: the queue, and
which replica reads it.

Every replica would read the same figures, and a sum over replicas would
count them once per replica; so one replica reports them: the one holding a
Postgres session-level advisory lock, on a connection of its own. When it
dies, or loses its connection, the lock goes with it and the next replica to
try takes it over. On SQLite (one process) the replica always reports.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.core.ports import QueueFigures
from cronstream_server.store.clock import database_now
from cronstream_server.store.database import dialect_of
from cronstream_server.store.queries_dispatch import IS_PENDING, IS_RUNNING
from cronstream_server.store.queries_gate import IS_WAITING
from cronstream_server.store.tables import alert_events, alerts
from cronstream_server.store.tables import job_executions as executions

# 'cronmetr' as a signed 64-bit key, beside the migration lock's 'cronmigr'.
LOCK_KEY = int.from_bytes(b"cronmetr", "big", signed=True)
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")


class ClusterReporter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)
        self._held: AsyncConnection | None = None

    async def reporting(self) -> bool:
        """Whether this replica reports the cluster's figures now (takes the
        turn when nobody holds it)."""
        if not self._dialect.advisory_locks:
            return True
        if self._held is not None:
            try:
                await self._held.execute(text("SELECT 1"))
                return True
            except Exception:  # the connection, and the lock with it, is gone
                await self.close()
                return False
        connection = await self._engine.connect()
        try:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            taken = (await autocommit.execute(_TRY_LOCK, {"key": LOCK_KEY})).scalar_one()
        except BaseException:
            await connection.close()
            raise
        if not taken:
            await connection.close()
            return False
        self._held = autocommit
        return True

    async def queue(self) -> list[QueueFigures]:
        async with self._engine.connect() as conn:
            now = await database_now(conn, self._dialect)
            due = IS_PENDING & (executions.c.due_at <= now)
            query = (
                select(
                    executions.c.platform_id,
                    executions.c.handler_name,
                    func.count().filter(due),
                    func.count().filter(IS_RUNNING),
                    func.count().filter(IS_WAITING),
                )
                .where(or_(due, IS_RUNNING, IS_WAITING))
                .group_by(executions.c.platform_id, executions.c.handler_name)
            )
            rows = (await conn.execute(query)).all()
        return [QueueFigures(str(p), h, int(n), int(r), int(w)) for p, h, n, r, w in rows]

    async def alerts_opened(self, after: int | None) -> tuple[list[tuple[str, str, str]], int]:
        """(platform, handler, kind) of the alerts opened after event `after`,
        and the last event's cursor; None: none yet, only the cursor (the
        replica starts counting from now)."""
        async with self._engine.connect() as conn:
            if after is None:
                latest = await conn.execute(select(func.max(alert_events.c.cursor)))
                return [], int(latest.scalar_one() or 0)
            query = (
                select(
                    alert_events.c.cursor,
                    alerts.c.platform_id,
                    alerts.c.handler_name,
                    alerts.c.kind,
                )
                .join(alerts, alerts.c.id == alert_events.c.alert_id)
                .where(alert_events.c.cursor > after, alert_events.c.type == "opened")
                .order_by(alert_events.c.cursor)
                .limit(10_000)
            )
            rows = (await conn.execute(query)).all()
        if not rows:
            return [], after
        return [(str(p), h, k) for _, p, h, k in rows], int(rows[-1][0])

    async def close(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            # Invalidated, not returned to the pool: a pooled connection would
            # keep the session's lock. Closing it ends the lock in Postgres.
            try:
                await held.invalidate()
            finally:
                await held.close()
