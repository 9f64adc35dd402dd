"""Alerts on SQL: the periodic check that opens and resolves the alerts a
clock decides (LATE, OVERRUNNING, and MISSED once a later slot runs), the
list, and the events WatchAlerts streams. MISSED opens in the ticker's
transaction (store.ticker) and FAILING in the settling one (store.dispatch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, case, exists, false, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.core.alerts import (
    Alert,
    AlertEvent,
    AlertFilter,
    Checked,
    Opening,
    from_public_json,
)
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger, HealthState
from cronstream_server.core.health import HealthPolicy, late_reason, overrunning_reason
from cronstream_server.core.paging import PageRequest
from cronstream_server.store.clock import database_now
from cronstream_server.store.database import dialect_of
from cronstream_server.store.errors import database_errors
from cronstream_server.store.paging import keyset_page, split_page
from cronstream_server.store.queries_alerts import (
    OPEN,
    alert_from_row,
    events_after,
    health_defaults,
    last_cursor,
    open_alerts,
    resolve_alerts,
    set_health_defaults,
)
from cronstream_server.store.tables import (
    DURATION_LIMIT,
    START_LIMIT,
    alerts,
    job_executions,
    platforms,
    scheduled_jobs,
)

executions, jobs = job_executions, scheduled_jobs
# 'cronalrt': one replica checks at a time (the others would find the same).
CHECK_LOCK_KEY = int.from_bytes(b"cronalrt", "big", signed=True)
# The kinds a check resolves (FAILING resolves with the settling success).
_ON_THE_CLOCK = (HealthState.LATE, HealthState.OVERRUNNING, HealthState.MISSED)
_STARTED = (ExecutionStatus.RUNNING, ExecutionStatus.SUCCESS, ExecutionStatus.FAILED,
            ExecutionStatus.TIMEOUT)  # fmt: skip


class SqlAlertStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    async def check(self) -> Checked:
        """Opens LATE and OVERRUNNING alerts whose time has come, and resolves
        those (and MISSED ones) that no longer hold; one transaction."""
        async with database_errors(), self._engine.begin() as conn:
            if self._dialect.advisory_locks:
                turn = select(func.pg_try_advisory_xact_lock(CHECK_LOCK_KEY))
                if not (await conn.execute(turn)).scalar_one():
                    # Another replica is checking now; should it stop, this
                    # one's next check takes over.
                    return Checked([], watching=False)
            now = await database_now(conn, self._dialect)
            start_limits, duration_limits = await _who_limits(conn)
            late = await _overdue(conn, now, LATE, start_limits)
            overrunning = await _overdue(conn, now, OVERRUNNING, duration_limits)
            events = await open_alerts(conn, self._dialect, [*late, *overrunning], now)
            holding = {
                *((o.job_id, HealthState.LATE) for o in late),
                *((o.job_id, HealthState.OVERRUNNING) for o in overrunning),
            }
            opened = await _open_on_the_clock(conn)
            stale = [
                (job_id, kind)
                for job_id, kind, ran_since in opened
                if (ran_since if kind is HealthState.MISSED else (job_id, kind) not in holding)
            ]
            events += await resolve_alerts(conn, self._dialect, stale, now)
        watching = start_limits.anyone or duration_limits.anyone or len(opened) > len(stale)
        return Checked(events, watching)

    async def list_alerts(
        self, platform_id: str, where: AlertFilter, page: PageRequest
    ) -> tuple[list[Alert], Alert | None]:
        clauses: list[ColumnElement[bool]] = [alerts.c.platform_id == platform_id]
        if where.job_id is not None:
            clauses.append(alerts.c.job_id == where.job_id)
        if where.kinds:
            clauses.append(alerts.c.kind.in_([k.value for k in where.kinds]))
        if where.states:
            clauses.append(alerts.c.state.in_([s.value for s in where.states]))
        query = keyset_page(
            select(alerts).where(*clauses),
            alerts.c.opened_at,
            alerts.c.id,
            page,
            newest_first=True,
        )
        async with database_errors(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return split_page([alert_from_row(row) for row in rows], page.size)

    async def events_after(self, platform_id: str, cursor: int, limit: int) -> list[AlertEvent]:
        async with database_errors(), self._engine.connect() as conn:
            found = await events_after(conn, platform_id, cursor, limit)
        return [AlertEvent(c, kind, from_public_json(data)) for c, kind, data in found]

    async def health_defaults(self, platform_id: str) -> HealthPolicy:
        async with database_errors(), self._engine.connect() as conn:
            found = await health_defaults(conn, [platform_id])
        return found.get(platform_id, HealthPolicy())

    async def set_health_defaults(self, platform_id: str, policy: HealthPolicy) -> HealthPolicy:
        async with database_errors(), self._engine.begin() as conn:
            await set_health_defaults(conn, platform_id, policy)
        return policy

    async def last_cursor(self, platform_id: str) -> int:
        async with database_errors(), self._engine.connect() as conn:
            return await last_cursor(conn, platform_id)


@dataclass(frozen=True, slots=True)
class _Limiting:
    """Who sets a limit of one kind: the platforms with a positive default,
    and whether any job sets a positive one of its own."""

    platforms: list[str]
    jobs: bool

    @property
    def anyone(self) -> bool:
        return bool(self.platforms) or self.jobs


async def _who_limits(conn: AsyncConnection) -> tuple[_Limiting, _Limiting]:
    """(LATE's, OVERRUNNING's): two probes of small indexes (the platforms,
    and ix_scheduled_jobs_start_limit and _duration_limit, which hold only
    the jobs that set their own)."""
    defaults = (
        await conn.execute(
            select(
                platforms.c.id,
                platforms.c.default_max_start_delay_ms > 0,
                platforms.c.default_max_duration_ms > 0,
            ).where(
                or_(
                    platforms.c.default_max_start_delay_ms > 0,
                    platforms.c.default_max_duration_ms > 0,
                )
            )
        )
    ).all()
    own = select(
        select(jobs.c.id).where(text(START_LIMIT)).exists(),
        select(jobs.c.id).where(text(DURATION_LIMIT)).exists(),
    )
    start_jobs, duration_jobs = (await conn.execute(own)).one()
    return (
        _Limiting([str(p) for p, start, _ in defaults if start], bool(start_jobs)),
        _Limiting([str(p) for p, _, duration in defaults if duration], bool(duration_jobs)),
    )


@dataclass(frozen=True, slots=True)
class _Overdue:
    """A clock-decided kind: executions in `status` whose `since` column plus
    the job's limit (its own column, else its platform's default) has passed."""

    kind: HealthState
    status: ExecutionStatus
    since: Column[datetime]
    limit: ColumnElement[Any]
    reason: Callable[[timedelta, datetime], str]
    extra: tuple[ColumnElement[bool], ...] = ()


LATE = _Overdue(
    HealthState.LATE,
    ExecutionStatus.PENDING,
    executions.c.due_at,
    func.coalesce(jobs.c.max_start_delay_ms, platforms.c.default_max_start_delay_ms),
    late_reason,  # given the slot (see _overdue)
    # A firing, not a manual run nor a retry (a retry waits on purpose).
    (
        executions.c.trigger == ExecutionTrigger.SCHEDULE.value,
        executions.c.attempt == 1,
    ),
)
OVERRUNNING = _Overdue(
    HealthState.OVERRUNNING,
    ExecutionStatus.RUNNING,
    executions.c.started_at,
    func.coalesce(jobs.c.max_duration_ms, platforms.c.default_max_duration_ms),
    overrunning_reason,
)


async def _overdue(
    conn: AsyncConnection, now: datetime, rule: _Overdue, limiting: _Limiting
) -> list[Opening]:
    """The earliest overdue execution of each job the rule holds for. Only
    the executions of the platforms and jobs that set a limit are read: with
    none, nothing is (a backlog of pending executions, whose every row the
    check would otherwise join to its job, costs nothing then)."""
    if not limiting.anyone:
        return []
    own_limit = text(START_LIMIT if rule.kind is HealthState.LATE else DURATION_LIMIT)
    limited: ColumnElement[bool] = executions.c.platform_id.in_(limiting.platforms)
    if limiting.jobs:
        limited = or_(limited, executions.c.job_id.in_(select(jobs.c.id).where(own_limit)))
    query = (
        select(
            executions.c.id,
            executions.c.job_id,
            executions.c.scheduled_at,
            rule.since.label("since"),
            jobs.c.platform_id,
            jobs.c.name,
            jobs.c.handler_name,
            rule.limit.label("limit_ms"),
        )
        .join(jobs, jobs.c.id == executions.c.job_id)
        .join(platforms, platforms.c.id == jobs.c.platform_id)
        .where(
            executions.c.status == rule.status.value,
            rule.since <= now,
            limited,
            rule.limit > 0,
            *rule.extra,
        )
        .order_by(rule.since)
    )
    found: dict[str, Opening] = {}
    for r in (await conn.execute(query)).all():
        limit = timedelta(milliseconds=r.limit_ms)
        if r.job_id in found or r.since + limit > now:
            continue
        named = r.scheduled_at if rule.kind is HealthState.LATE else r.since
        found[r.job_id] = Opening(
            platform_id=r.platform_id,
            job_id=r.job_id,
            job_name=r.name,
            handler_name=r.handler_name,
            kind=rule.kind,
            reason=rule.reason(limit, named),
            execution_id=r.id,
            scheduled_at=r.scheduled_at,
        )
    return list(found.values())


async def _open_on_the_clock(conn: AsyncConnection) -> list[tuple[str, HealthState, bool]]:
    """The open alerts a check resolves (LATE, OVERRUNNING, MISSED), one
    statement, each with whether it is a MISSED one whose job has started a
    later slot since (which resolves it). A backfilled instant is not one:
    it says nothing of the live schedule."""
    later: Any = exists().where(
        executions.c.job_id == alerts.c.job_id,
        executions.c.scheduled_at > alerts.c.scheduled_at,
        executions.c.status.in_([s.value for s in _STARTED]),
        executions.c.trigger != ExecutionTrigger.BACKFILL.value,
    )
    missed = alerts.c.kind == HealthState.MISSED.value
    query = select(
        alerts.c.job_id, alerts.c.kind, case((missed, later), else_=false()).label("ran_since")
    ).where(alerts.c.kind.in_([k.value for k in _ON_THE_CLOCK]), OPEN)
    rows = (await conn.execute(query)).all()
    return [(job_id, HealthState(kind), bool(ran)) for job_id, kind, ran in rows]
