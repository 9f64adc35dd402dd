"""AdminStore on SQL: platforms and API keys."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from cronstream_server.core.errors import AlreadyExists, NotFound
from cronstream_server.core.fairness import DEFAULT_WEIGHT
from cronstream_server.core.ids import is_valid_id, new_id
from cronstream_server.core.paging import PageRequest
from cronstream_server.core.tenancy import ApiKey, NewSecret, Platform, PlatformPrincipal
from cronstream_server.store.database import dialect_of
from cronstream_server.store.errors import database_errors, is_unique_violation
from cronstream_server.store.paging import keyset_page, split_page
from cronstream_server.store.tables import api_keys, platforms
from cronstream_server.store.types import one_of


def _now() -> datetime:
    return datetime.now(UTC)


def _platform(row: Row[Any]) -> Platform:
    return Platform(id=row.id, name=row.name, created_at=row.created_at, weight=row.weight)


def _api_key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        platform_id=row.platform_id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


@contextlib.asynccontextmanager
async def _name_taken(name: str | None) -> AsyncIterator[None]:
    """A unique violation (the only unique column a platform write sets is
    its name) as AlreadyExists."""
    try:
        yield
    except sa_exc.IntegrityError as error:
        if is_unique_violation(error):
            raise AlreadyExists(f"a platform named {name!r} already exists") from error
        raise


class SqlAdminStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    async def create_platform(self, name: str, weight: int = DEFAULT_WEIGHT) -> Platform:
        platform = Platform(id=new_id(), name=name, created_at=_now(), weight=weight)
        async with _name_taken(name), database_errors(), self._engine.begin() as conn:
            await conn.execute(
                platforms.insert().values(
                    id=platform.id,
                    name=platform.name,
                    created_at=platform.created_at,
                    weight=platform.weight,
                )
            )
        return platform

    async def update_platform(
        self, platform_id: str, name: str | None, weight: int | None
    ) -> Platform:
        changes = {
            column: value
            for column, value in (("name", name), ("weight", weight))
            if value is not None
        }
        if is_valid_id(platform_id):
            async with _name_taken(name), database_errors(), self._engine.begin() as conn:
                row = (
                    await conn.execute(
                        update(platforms)
                        .where(platforms.c.id == platform_id)
                        .values(**changes)
                        .returning(*platforms.c)
                    )
                ).first()
            if row is not None:
                return _platform(row)
        raise NotFound("platform", platform_id)

    async def get_platform(self, platform_id: str) -> Platform:
        if is_valid_id(platform_id):
            async with database_errors(), self._engine.connect() as conn:
                row = (
                    await conn.execute(select(platforms).where(platforms.c.id == platform_id))
                ).first()
            if row is not None:
                return _platform(row)
        raise NotFound("platform", platform_id)

    async def find_platform_by_name(self, name: str) -> Platform | None:
        async with database_errors(), self._engine.connect() as conn:
            row = (await conn.execute(select(platforms).where(platforms.c.name == name))).first()
        return _platform(row) if row is not None else None

    async def list_platforms(self, page: PageRequest) -> tuple[list[Platform], Platform | None]:
        query = keyset_page(
            select(platforms), platforms.c.created_at, platforms.c.id, page, newest_first=False
        )
        async with database_errors(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return split_page([_platform(row) for row in rows], page.size)

    async def delete_platform(self, platform_id: str) -> None:
        if is_valid_id(platform_id):
            async with database_errors(), self._engine.begin() as conn:
                result = await conn.execute(delete(platforms).where(platforms.c.id == platform_id))
            if result.rowcount:
                return
        raise NotFound("platform", platform_id)

    async def create_api_key(self, platform_id: str, name: str, secret: NewSecret) -> ApiKey:
        await self.get_platform(platform_id)
        key = ApiKey(new_id(), platform_id, name, secret.prefix, _now())
        async with database_errors(), self._engine.begin() as conn:
            await conn.execute(
                api_keys.insert().values(
                    id=key.id,
                    platform_id=platform_id,
                    name=name,
                    secret_hash=secret.secret_hash,
                    prefix=secret.prefix,
                    created_at=key.created_at,
                )
            )
        return key

    async def list_api_keys(
        self, platform_id: str, page: PageRequest
    ) -> tuple[list[ApiKey], ApiKey | None]:
        await self.get_platform(platform_id)
        query = keyset_page(
            select(api_keys).where(api_keys.c.platform_id == platform_id),
            api_keys.c.created_at,
            api_keys.c.id,
            page,
            newest_first=False,
        )
        async with database_errors(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return split_page([_api_key(row) for row in rows], page.size)

    async def revoke_api_key(self, key_id: str) -> ApiKey:
        if is_valid_id(key_id):
            async with database_errors(), self._engine.begin() as conn:
                await conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                    .values(revoked_at=_now())
                )
                row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
            if row is not None:
                return _api_key(row)
        raise NotFound("api key", key_id)

    async def authenticate(self, secret_hash: str) -> PlatformPrincipal | None:
        query = select(api_keys.c.id, api_keys.c.name, api_keys.c.platform_id).where(
            api_keys.c.secret_hash == secret_hash, api_keys.c.revoked_at.is_(None)
        )
        async with database_errors(), self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return PlatformPrincipal(platform_id=row.platform_id, key_id=row.id, key_name=row.name)

    async def live_keys(self, key_ids: Collection[str]) -> set[str]:
        wanted = sorted(k for k in key_ids if is_valid_id(k))
        if not wanted:
            return set()
        query = select(api_keys.c.id).where(
            one_of(api_keys.c.id, wanted, self._dialect.uuid_arrays),
            api_keys.c.revoked_at.is_(None),
        )
        async with database_errors(), self._engine.connect() as conn:
            return {str(row.id) for row in await conn.execute(query)}

    async def ping(self) -> None:
        async with database_errors(), self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
