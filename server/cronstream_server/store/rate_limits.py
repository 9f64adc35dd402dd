"""RateLimitStore (core.ports) on SQL: a platform's rate limits.

Setting or deleting a limit locks its row FOR UPDATE, which waits for any
claim drawing from its buckets (a claim reads the limit FOR KEY SHARE) and
holds new claims back until it commits: the buckets are then dropped (full)
with no claim writing them at the same time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cronstream_server.core.errors import NotFound
from cronstream_server.core.rate_limits import RateLimit, Scope
from cronstream_server.store.database import dialect_of
from cronstream_server.store.errors import database_errors
from cronstream_server.store.queries_limits import rate_limit_from_row
from cronstream_server.store.tables import rate_limit_buckets, rate_limits

limits = rate_limits
SCOPE_ORDER = {Scope.KEY: 0, Scope.HANDLER: 1}  # the contract's: keys, then handlers


class SqlRateLimitStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    async def set_limit(
        self,
        platform_id: str,
        scope: Scope,
        name: str,
        make: Callable[[RateLimit | None], RateLimit],
    ) -> RateLimit:
        """Creates or replaces the limit `make` builds from the one stored
        (None: none yet); its buckets start full."""
        async with database_errors(), self._engine.begin() as conn:
            before = await _locked(conn, platform_id, scope, name)
            after = make(before)
            values = _values(after)
            if before is None:
                insert = self._dialect.insert_or_skip(limits, ["platform_id", "scope", "name"])
                await conn.execute(insert.values(**values))
            # A concurrent first Set of the same limit inserted it first: ours
            # replaces it, as a Set after it would.
            await conn.execute(
                update(limits).where(_named(platform_id, scope, name)).values(**values)
            )
            await _drop_buckets(conn, platform_id, scope, name)
        return after

    async def list_limits(self, platform_id: str) -> list[RateLimit]:
        query = select(limits).where(limits.c.platform_id == platform_id)
        async with database_errors(), self._engine.connect() as conn:
            found = [rate_limit_from_row(row) for row in (await conn.execute(query)).all()]
        return sorted(found, key=lambda r: (SCOPE_ORDER[r.scope], r.name))

    async def delete_limit(self, platform_id: str, scope: Scope, name: str) -> None:
        async with database_errors(), self._engine.begin() as conn:
            result = await conn.execute(delete(limits).where(_named(platform_id, scope, name)))
        if not result.rowcount:
            raise NotFound("rate limit", name)


def _named(platform_id: str, scope: Scope, name: str) -> ColumnElement[bool]:
    return and_(
        limits.c.platform_id == platform_id, limits.c.scope == scope.value, limits.c.name == name
    )


async def _locked(
    conn: AsyncConnection, platform_id: str, scope: Scope, name: str
) -> RateLimit | None:
    query = select(limits).where(_named(platform_id, scope, name)).with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else rate_limit_from_row(row)


async def _drop_buckets(conn: AsyncConnection, platform_id: str, scope: Scope, name: str) -> None:
    buckets = rate_limit_buckets
    await conn.execute(
        delete(buckets).where(
            buckets.c.platform_id == platform_id,
            buckets.c.scope == scope.value,
            buckets.c.name == name,
        )
    )


def _values(limit: RateLimit) -> dict[str, object]:
    return {
        "platform_id": limit.platform_id,
        "scope": limit.scope.value,
        "name": limit.name,
        "starts": limit.limit,
        "per_ms": limit.per // _MS,
        "burst": limit.burst,
        "created_at": limit.created_at,
        "updated_at": limit.updated_at,
    }


_MS = timedelta(milliseconds=1)
