"""The SQL stores behind SchedulerService's reads and changes, built once per engine.

The server (server.py) and the HTTP port's read server (read_server.py) hand
the same set to `SchedulerDeps`; each adds what it alone has (the engine's
health, its worker sessions, its quotas).
"""

from __future__ import annotations

from typing import TypedDict

from sqlalchemy.ext.asyncio import AsyncEngine

from cronstream_server.store.alerts import SqlAlertStore
from cronstream_server.store.events import SqlEventStore
from cronstream_server.store.executions import SqlExecutionStore
from cronstream_server.store.insight import SqlInsightStore
from cronstream_server.store.jobs import SqlJobStore
from cronstream_server.store.rate_limits import SqlRateLimitStore
from cronstream_server.store.worker_registry import SqlWorkerRegistry


class SchedulerStores(TypedDict):
    """`SchedulerDeps`' store fields, by their names there."""

    jobs: SqlJobStore
    executions: SqlExecutionStore
    events: SqlEventStore
    insight: SqlInsightStore
    alerts: SqlAlertStore
    rate_limits: SqlRateLimitStore
    workers: SqlWorkerRegistry


def scheduler_stores(engine: AsyncEngine) -> SchedulerStores:
    return SchedulerStores(
        jobs=SqlJobStore(engine),
        executions=SqlExecutionStore(engine),
        events=SqlEventStore(engine),
        insight=SqlInsightStore(engine),
        alerts=SqlAlertStore(engine),
        rate_limits=SqlRateLimitStore(engine),
        workers=SqlWorkerRegistry(engine),
    )
