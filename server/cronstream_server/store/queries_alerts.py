"""Opening and resolving alerts inside a caller's transaction, with their
events and the jobs' health (docs/alerts.md).

Opening is idempotent across replicas: the partial unique index
`ix_alerts_open` (one open alert per job and kind) turns a second opening
into nothing (INSERT ... ON CONFLICT DO NOTHING), and resolving is an UPDATE
of the open row, so only one transaction resolves it. Events take a
platform's advisory lock (Postgres) before they draw their cursor and keep
it until commit: a platform's events commit in cursor order, and a watcher
that has read cursor N never later finds a smaller one appear.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.core.alerts import Alert, AlertEvent, AlertEventType, Opening, public_json
from cronstream_server.core.dispatch import Ending, Settlement
from cronstream_server.core.enums import AlertState, HealthState, JobStatus
from cronstream_server.core.health import HealthPolicy, effective, failing_reason, worst
from cronstream_server.core.ids import new_id
from cronstream_server.store.database import Dialect
from cronstream_server.store.tables import alert_events, alerts, platforms, scheduled_jobs
from cronstream_server.store.types import one_of

OPEN = text("state = 'open'")
_LOCK_PLATFORM = text("SELECT pg_advisory_xact_lock(:key)")


def alert_from_row(row: Row[Any] | Any) -> Alert:
    r = row._mapping
    return Alert(
        id=r["id"],
        platform_id=r["platform_id"],
        job_id=r["job_id"],
        job_name=r["job_name"],
        handler_name=r["handler_name"],
        kind=HealthState(r["kind"]),
        state=AlertState(r["state"]),
        opened_at=r["opened_at"],
        reason=r["reason"],
        resolved_at=r["resolved_at"],
        execution_id=r["execution_id"],
        scheduled_at=r["scheduled_at"],
        paused_job=r["paused_job"],
    )


async def open_alerts(
    conn: AsyncConnection, dialect: Dialect, openings: Sequence[Opening], now: datetime
) -> list[AlertEvent]:
    """Opens each alert whose job has none of its kind open; the events of
    those it opened."""
    opened: list[Alert] = []
    for o in openings:
        values = {
            "id": new_id(),
            "platform_id": o.platform_id,
            "job_id": o.job_id,
            "job_name": o.job_name,
            "handler_name": o.handler_name,
            "kind": o.kind.value,
            "state": AlertState.OPEN.value,
            "opened_at": now,
            "reason": o.reason,
            "execution_id": o.execution_id,
            "scheduled_at": o.scheduled_at,
            "paused_job": o.paused_job,
        }
        statement = (
            dialect.insert_or_skip(alerts, ["job_id", "kind"], index_where=OPEN)
            .values(values)
            .returning(*alerts.c)
        )
        row = (await conn.execute(statement)).first()
        if row is not None:
            opened.append(alert_from_row(row))
    return await _recorded(conn, dialect, opened, AlertEventType.OPENED, now)


async def resolve_alerts(
    conn: AsyncConnection,
    dialect: Dialect,
    kinds_by_job: Iterable[tuple[str, HealthState]],
    now: datetime,
) -> list[AlertEvent]:
    """Resolves the open alert of each (job, kind) that has one."""
    resolved: list[Alert] = []
    for job_id, kind in sorted(set(kinds_by_job)):
        statement = (
            update(alerts)
            .where(alerts.c.job_id == job_id, alerts.c.kind == kind.value, OPEN)
            .values(state=AlertState.RESOLVED.value, resolved_at=now)
            .returning(*alerts.c)
        )
        row = (await conn.execute(statement)).first()
        if row is not None:
            resolved.append(alert_from_row(row))
    return await _recorded(conn, dialect, resolved, AlertEventType.RESOLVED, now)


async def open_kinds(conn: AsyncConnection, job_ids: Sequence[str]) -> set[tuple[str, HealthState]]:
    """(job, kind) of the open alerts of these jobs."""
    if not job_ids:
        return set()
    query = select(alerts.c.job_id, alerts.c.kind).where(
        alerts.c.job_id.in_(sorted(set(job_ids))), OPEN
    )
    return {(j, HealthState(k)) for j, k in (await conn.execute(query)).all()}


async def _recorded(
    conn: AsyncConnection, dialect: Dialect, changed: list[Alert], kind: str, now: datetime
) -> list[AlertEvent]:
    if not changed:
        return []
    if dialect.advisory_locks:
        for platform_id in sorted({a.platform_id for a in changed}):
            await conn.execute(_LOCK_PLATFORM, {"key": _lock_key(platform_id)})
    events = []
    for alert in changed:
        cursor = (
            await conn.execute(
                alert_events.insert()
                .values(
                    platform_id=alert.platform_id,
                    alert_id=alert.id,
                    type=kind,
                    at=now,
                    alert=public_json(alert),
                )
                .returning(alert_events.c.cursor)
            )
        ).scalar_one()
        events.append(AlertEvent(cursor, kind, alert))
    await _refresh_health(conn, [a.job_id for a in changed], now)
    return events


async def _refresh_health(conn: AsyncConnection, job_ids: Sequence[str], now: datetime) -> None:
    """Each job's health: the worst of its open alerts, since that one opened."""
    ids = sorted(set(job_ids))
    query = select(alerts.c.job_id, alerts.c.kind, alerts.c.opened_at, alerts.c.reason).where(
        alerts.c.job_id.in_(ids), OPEN
    )
    open_by_job: dict[str, list[Any]] = {}
    for row in (await conn.execute(query)).all():
        open_by_job.setdefault(row.job_id, []).append(row)
    for job_id in ids:
        rows = open_by_job.get(job_id, [])
        state = worst(HealthState(r.kind) for r in rows)
        chosen = next((r for r in rows if HealthState(r.kind) is state), None)
        await conn.execute(
            update(scheduled_jobs)
            .where(scheduled_jobs.c.id == job_id)
            .values(
                health=state.value,
                health_since=chosen.opened_at if chosen is not None else now,
                health_reason=chosen.reason if chosen is not None else None,
            )
        )


def _lock_key(platform_id: str) -> int:
    """The platform's advisory lock key: its id's first 8 bytes, signed."""
    return int.from_bytes(uuid.UUID(platform_id).bytes[:8], "big", signed=True)


async def events_after(
    conn: AsyncConnection, platform_id: str, cursor: int, limit: int
) -> list[tuple[int, str, dict[str, Any]]]:
    """(cursor, type, alert JSON) of the platform's events after `cursor`."""
    query = (
        select(alert_events.c.cursor, alert_events.c.type, alert_events.c.alert)
        .where(alert_events.c.platform_id == platform_id, alert_events.c.cursor > cursor)
        .order_by(alert_events.c.cursor)
        .limit(limit)
    )
    return [(c, t, a) for c, t, a in (await conn.execute(query)).all()]


async def last_cursor(conn: AsyncConnection, platform_id: str) -> int:
    query = select(func.max(alert_events.c.cursor)).where(alert_events.c.platform_id == platform_id)
    return int((await conn.execute(query)).scalar_one() or 0)


async def track_failures(
    conn: AsyncConnection, dialect: Dialect, settled: Sequence[Settlement], now: datetime
) -> list[AlertEvent]:
    """Counts failed attempts in a row per job, in the transaction that
    settled them: a success starts the count over and resolves FAILING; a
    count reaching the policy's opens it (and pauses the job when the policy
    says so). A success on a job whose count is 0, the common case, writes
    nothing."""
    succeeded = sorted(
        {s.held.job_id for s in settled if s.held.job_id and s.ending is Ending.SUCCEEDED}
    )
    events: list[AlertEvent] = []
    if succeeded:
        reset = (
            (
                await conn.execute(
                    update(scheduled_jobs)
                    .where(
                        one_of(scheduled_jobs.c.id, succeeded, dialect.uuid_arrays),
                        scheduled_jobs.c.failure_streak > 0,
                    )
                    .values(failure_streak=0)
                    .returning(scheduled_jobs.c.id)
                )
            )
            .scalars()
            .all()
        )
        events += await resolve_alerts(
            conn, dialect, [(job_id, HealthState.FAILING) for job_id in reset], now
        )
    failed = sorted(
        (s for s in settled if s.held.job_id and s.ending is not Ending.SUCCEEDED),
        key=lambda s: s.held.job_id or "",  # row locks in one order
    )
    openings: dict[str, Opening] = {}
    defaults: dict[str, HealthPolicy] = {}
    for s in failed:
        job = (
            await conn.execute(
                update(scheduled_jobs)
                .where(scheduled_jobs.c.id == s.held.job_id)
                .values(failure_streak=scheduled_jobs.c.failure_streak + 1)
                .returning(
                    scheduled_jobs.c.id,
                    scheduled_jobs.c.platform_id,
                    scheduled_jobs.c.name,
                    scheduled_jobs.c.handler_name,
                    scheduled_jobs.c.status,
                    scheduled_jobs.c.failure_streak,
                    scheduled_jobs.c.consecutive_failures,
                    scheduled_jobs.c.pause_on_failure,
                )
            )
        ).first()
        if job is None:  # deleted meanwhile
            continue
        if job.platform_id not in defaults:
            defaults.update(await health_defaults(conn, [job.platform_id]))
        policy = effective(
            HealthPolicy(
                consecutive_failures=job.consecutive_failures,
                pause_on_failure=job.pause_on_failure,
            ),
            defaults.get(job.platform_id, HealthPolicy()),
        )
        if job.failure_streak >= policy.failing_after:
            pause = policy.pauses_on_failure and job.status == JobStatus.ACTIVE.value
            openings[job.id] = Opening(
                platform_id=job.platform_id,
                job_id=job.id,
                job_name=job.name,
                handler_name=job.handler_name,
                kind=HealthState.FAILING,
                reason=failing_reason(job.failure_streak, pause),
                execution_id=s.held.id,
                paused_job=pause,
            )
    opened = await open_alerts(conn, dialect, list(openings.values()), now)
    pausing = sorted(e.alert.job_id for e in opened if e.alert.paused_job)
    if pausing:
        await conn.execute(
            update(scheduled_jobs)
            .where(
                scheduled_jobs.c.id.in_(pausing), scheduled_jobs.c.status == JobStatus.ACTIVE.value
            )
            .values(status=JobStatus.PAUSED.value, updated_at=now)
        )
    return events + opened


def _defaults_from_row(r: Any) -> HealthPolicy:
    return HealthPolicy(
        max_start_delay=_delta(r.default_max_start_delay_ms),
        max_duration=_delta(r.default_max_duration_ms),
        consecutive_failures=r.default_consecutive_failures,
        alert_on_missed=r.default_alert_on_missed,
        pause_on_failure=r.default_pause_on_failure,
    )


def _delta(ms: int | None) -> timedelta | None:
    return None if ms is None else timedelta(milliseconds=ms)


def _ms(value: timedelta | None) -> int | None:
    return None if value is None else int(value / timedelta(milliseconds=1))


async def health_defaults(
    conn: AsyncConnection, platform_ids: Iterable[str]
) -> dict[str, HealthPolicy]:
    """Each platform's default health policy, as set."""
    ids = sorted(set(platform_ids))
    if not ids:
        return {}
    query = select(platforms).where(platforms.c.id.in_(ids))
    return {r.id: _defaults_from_row(r) for r in (await conn.execute(query)).all()}


async def set_health_defaults(
    conn: AsyncConnection, platform_id: str, policy: HealthPolicy
) -> None:
    await conn.execute(
        update(platforms)
        .where(platforms.c.id == platform_id)
        .values(
            default_max_start_delay_ms=_ms(policy.max_start_delay),
            default_max_duration_ms=_ms(policy.max_duration),
            default_consecutive_failures=policy.consecutive_failures,
            default_alert_on_missed=policy.alert_on_missed,
            default_pause_on_failure=policy.pause_on_failure,
        )
    )


async def wanted_missed(conn: AsyncConnection, openings: Sequence[Opening]) -> list[Opening]:
    """The MISSED openings whose job's effective policy asks for them (the
    plan left out the jobs that said no themselves)."""
    if not openings:
        return []
    defaults = await health_defaults(conn, [o.platform_id for o in openings])
    query = select(scheduled_jobs.c.id, scheduled_jobs.c.alert_on_missed).where(
        scheduled_jobs.c.id.in_(sorted({o.job_id for o in openings}))
    )
    own = dict((await conn.execute(query)).all())
    return [
        o
        for o in openings
        if effective(
            HealthPolicy(alert_on_missed=own.get(o.job_id)),
            defaults.get(o.platform_id, HealthPolicy()),
        ).missed_alerts
    ]
