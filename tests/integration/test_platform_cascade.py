"""Deleting a platform deletes everything it owns, and nothing of anyone else's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cronstream.v1 import admin_service_pb2 as pb
from cronstream_server.core.ids import new_id
from cronstream_server.store.database import create_engine
from cronstream_server.store.tables import (
    api_keys,
    event_deliveries,
    event_handlers,
    job_execution_logs,
    job_executions,
    scheduled_jobs,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import ADMIN, Live, make_tenant

OWNED = [
    api_keys,
    scheduled_jobs,
    event_handlers,
    job_executions,
    job_execution_logs,
    event_deliveries,
]


async def _fill(conn: AsyncConnection, platform_id: str) -> None:
    """One row in every table a platform owns."""
    now = datetime.now(UTC)
    job_id, handler_id, execution_id = new_id(), new_id(), new_id()
    common: dict[str, Any] = {"platform_id": platform_id, "created_at": now}
    await conn.execute(
        scheduled_jobs.insert().values(
            id=job_id,
            name="nightly",
            type="cron",
            status="active",
            schedule="0 3 * * *",
            timezone="UTC",
            handler_name="report",
            tags=["a"],
            metadata={},
            created_by="k",
            updated_at=now,
            **common,
        )
    )
    await conn.execute(
        event_handlers.insert().values(
            id=handler_id, event_name="signup", handler_name="welcome", updated_at=now, **common
        )
    )
    await conn.execute(
        job_executions.insert().values(
            id=execution_id,
            job_id=job_id,
            trigger="schedule",
            status="success",
            handler_name="report",
            priority=2,
            scheduled_at=now,
            due_at=now,
            max_retries=3,
            retry_delay_ms=1000,
            timeout_ms=1000,
            **common,
        )
    )
    await conn.execute(
        job_execution_logs.insert().values(
            execution_id=execution_id, timestamp=now, level="info", message="done"
        )
    )
    await conn.execute(
        event_deliveries.insert().values(
            request_id="r1", event_name="signup", execution_ids=[], **common
        )
    )


async def _counts(conn: AsyncConnection) -> dict[str, int]:
    return {
        table.name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
        for table in OWNED
    }


async def test_delete_platform_cascades_to_everything_it_owns(live: Live) -> None:
    doomed = await make_tenant(live, "doomed")
    kept = await make_tenant(live, "kept")
    engine = create_engine(live.database_url)
    try:
        async with engine.begin() as conn:
            await _fill(conn, doomed.platform.id)
            await _fill(conn, kept.platform.id)
        async with engine.connect() as conn:
            assert set((await _counts(conn)).values()) == {2}

        await live.admin.DeletePlatform(
            pb.DeletePlatformRequest(id=doomed.platform.id), metadata=ADMIN
        )

        async with engine.connect() as conn:
            assert set((await _counts(conn)).values()) == {1}
            owners = (await conn.execute(select(scheduled_jobs.c.platform_id))).scalars().all()
    finally:
        await engine.dispose()
    assert owners == [kept.platform.id]
