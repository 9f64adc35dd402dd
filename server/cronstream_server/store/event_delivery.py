"""EventDeliveryStore (core.ports) on SQL: TriggerEvent's fan-out for many
events in one transaction.

One statement finds the listeners of every event in the batch, one inserts
every execution, one records the idempotency keys; a request id seen before
(in an earlier batch or earlier in this one) creates nothing and answers with
the ids stored the first time.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.core import events as event_rules
from cronstream_server.core.enums import JobStatus, JobType
from cronstream_server.core.events import Delivered, Event, EventHandler
from cronstream_server.core.executions import Execution
from cronstream_server.core.jobs import Job
from cronstream_server.store.database import Dialect, dialect_of
from cronstream_server.store.errors import database_errors
from cronstream_server.store.events import handler_from_row
from cronstream_server.store.executions import insert_executions
from cronstream_server.store.rows import job_from_row
from cronstream_server.store.tables import event_deliveries, event_handlers, scheduled_jobs

Key = tuple[str, str]  # (platform_id, event name)
# A literal, not a bound parameter: only then can every plan (a prepared
# statement's generic one included) match ix_scheduled_jobs_events'
# predicate, rather than read all the platform's jobs.
_EVENT_JOB = scheduled_jobs.c.type == literal_column(f"'{JobType.EVENT.value}'")


class SqlEventDeliveryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    async def deliver(self, events: Sequence[Event]) -> list[Delivered]:
        async with database_errors(), self._engine.begin() as conn:
            return await _deliver(conn, self._dialect, events)


async def _deliver(
    conn: AsyncConnection, dialect: Dialect, events: Sequence[Event]
) -> list[Delivered]:
    """Every event, in the caller's transaction; results in the events' order."""
    listeners = await _listeners(conn, {(e.platform_id, e.name) for e in events})
    made = [
        event_rules.deliveries(e, *listeners.get((e.platform_id, e.name), ([], []))) for e in events
    ]
    fresh = await _record_request_ids(conn, dialect, events, made)
    await insert_executions(conn, [x for i, batch in enumerate(made) if fresh[i] for x in batch])
    repeats = await _stored_ids(conn, [e for i, e in enumerate(events) if not fresh[i]])
    return [
        Delivered([x.id for x in made[i]], True)
        if fresh[i]
        else Delivered(repeats[(e.platform_id, e.request_id or "")], False)
        for i, e in enumerate(events)
    ]


async def _listeners(
    conn: AsyncConnection, keys: set[Key]
) -> dict[Key, tuple[list[EventHandler], list[Job]]]:
    """Enabled handlers and active event jobs for each (platform, name), oldest
    first, so ids come back in creation order and job counters are bumped in a
    stable order (no deadlock between concurrent batches)."""
    found: dict[Key, tuple[list[EventHandler], list[Job]]] = {k: ([], []) for k in keys}
    if not keys:
        return found
    h, j = event_handlers.c, scheduled_jobs.c
    handler_rows = await conn.execute(
        select(event_handlers)
        .where(tuple_(h.platform_id, h.event_name).in_(list(keys)), h.enabled.is_(True))
        .order_by(h.created_at, h.id)
    )
    for row in handler_rows.all():
        found[(row.platform_id, row.event_name)][0].append(handler_from_row(row))
    job_rows = await conn.execute(
        select(scheduled_jobs)
        .where(
            tuple_(j.platform_id, j.event_name).in_(list(keys)),
            _EVENT_JOB,
            j.status == JobStatus.ACTIVE.value,
        )
        .order_by(j.created_at, j.id)
    )
    for row in job_rows.all():
        found[(row.platform_id, row.event_name)][1].append(job_from_row(row))
    return found


async def _record_request_ids(
    conn: AsyncConnection, dialect: Dialect, events: Sequence[Event], made: list[list[Execution]]
) -> list[bool]:
    """Inserts the idempotency records; an event is fresh unless its request id
    was taken before. ON CONFLICT DO NOTHING also settles two events of one
    batch that share a request id: the first is recorded, the second repeats."""
    keyed = [(i, e) for i, e in enumerate(events) if e.request_id is not None]
    fresh = [e.request_id is None for e in events]
    if not keyed:
        return fresh
    rows = [
        {
            "platform_id": e.platform_id,
            "request_id": e.request_id,
            "event_name": e.name,
            "execution_ids": [x.id for x in made[i]],
            "created_at": e.at,
        }
        for i, e in keyed
    ]
    statement = dialect.insert_or_skip(event_deliveries, ["platform_id", "request_id"]).returning(
        event_deliveries.c.platform_id, event_deliveries.c.request_id
    )
    recorded = {tuple(r) for r in (await conn.execute(statement, rows)).all()}
    claimed: set[tuple[str, str]] = set()
    for i, e in keyed:
        key = (e.platform_id, e.request_id or "")
        fresh[i] = key in recorded and key not in claimed
        claimed.add(key)
    return fresh


async def _stored_ids(
    conn: AsyncConnection, repeats: Sequence[Event]
) -> dict[tuple[str, str], list[str]]:
    if not repeats:
        return {}
    d = event_deliveries.c
    keys = list({(e.platform_id, e.request_id or "") for e in repeats})
    rows = await conn.execute(
        select(d.platform_id, d.request_id, d.execution_ids).where(
            tuple_(d.platform_id, d.request_id).in_(keys)
        )
    )
    return {(r.platform_id, r.request_id): [str(x) for x in r.execution_ids] for r in rows.all()}
