"""The admin use cases that reach beyond their one AdminStore call: revoking a
key and deleting a platform also end the worker streams they opened, on
every replica (see engine.workers.WorkerHub.check_keys)."""

from __future__ import annotations

from cronstream_server.core.ports import AdminStore
from cronstream_server.core.signals import KeysRevoked
from cronstream_server.core.tenancy import ApiKey
from cronstream_server.service.outcome import Outcome


class AdminUseCases:
    def __init__(self, store: AdminStore) -> None:
        self._store = store

    async def revoke_key(self, key_id: str) -> Outcome[ApiKey]:
        key = await self._store.revoke_api_key(key_id)
        return Outcome(key, (KeysRevoked(key.id),))

    async def delete_platform(self, platform_id: str) -> Outcome[None]:
        await self._store.delete_platform(platform_id)
        return Outcome(None, (KeysRevoked(platform_id),))
