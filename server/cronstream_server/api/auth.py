"""Who is calling: the bearer key decides the principal (admin or a platform)."""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable

from cronstream_server.core.errors import Unauthenticated
from cronstream_server.core.ports import AdminStore
from cronstream_server.core.tenancy import (
    AdminPrincipal,
    PlatformPrincipal,
    Principal,
    hash_secret,
)

# A revoked key stops working at once on the replica that revoked it and within
# this many seconds on the others; in exchange a busy worker does not cost a
# database round trip per call.
KEY_CACHE_SECONDS = 5.0
_MAX_CACHED_KEYS = 10_000


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The key in `authorization: Bearer <key>`; raises Unauthenticated without one."""
    for name, value in metadata or ():
        if name == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            break
    raise Unauthenticated("missing credentials: send 'authorization: Bearer <api key>'")


# Metadata with which the admin key acts for one platform on SchedulerService.
PLATFORM_HEADER = "x-cronstream-platform"
# What a call made so is recorded as (CreateJob's created_by).
ADMIN_KEY_NAME = "admin"


def metadata_value(metadata: Iterable[tuple[str, str | bytes]] | None, name: str) -> str | None:
    """The first value of metadata `name`, if sent."""
    for key, value in metadata or ():
        if key == name:
            return value.decode() if isinstance(value, bytes) else value
    return None


class Authenticator:
    def __init__(self, store: AdminStore, admin_key: str | None) -> None:
        self._store = store
        self._admin_key = admin_key
        self._cache: dict[str, tuple[PlatformPrincipal, float]] = {}

    def is_admin(self, token: str) -> bool:
        return self._admin_key is not None and hmac.compare_digest(
            token.encode(), self._admin_key.encode()
        )

    async def admin(self, token: str) -> AdminPrincipal:
        if not self.is_admin(token):
            raise Unauthenticated("this call needs the admin key")
        return AdminPrincipal()

    async def platform(self, token: str) -> PlatformPrincipal:
        digest = hash_secret(token)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        principal = await self._store.authenticate(digest)
        if principal is None:
            self._cache.pop(digest, None)
            raise Unauthenticated("unknown or revoked API key")
        if len(self._cache) >= _MAX_CACHED_KEYS:
            self._cache.clear()
        self._cache[digest] = (principal, now + KEY_CACHE_SECONDS)
        return principal

    async def acting_for(self, platform_id: str) -> PlatformPrincipal:
        """The admin key acting for `platform_id`; NotFound when there is no
        such platform. Cached as platform keys are, and forgotten with them."""
        cache_key = f"platform:{platform_id}"
        cached = self._cache.get(cache_key)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        platform = await self._store.get_platform(platform_id)
        principal = PlatformPrincipal(platform.id, key_id="", key_name=ADMIN_KEY_NAME)
        if len(self._cache) >= _MAX_CACHED_KEYS:
            self._cache.clear()
        self._cache[cache_key] = (principal, now + KEY_CACHE_SECONDS)
        return principal

    def forget(self, *, key_id: str | None = None, platform_id: str | None = None) -> None:
        """Drops a revoked key, or a deleted platform's keys, from this replica's cache."""
        self._cache = {
            digest: entry
            for digest, entry in self._cache.items()
            if entry[0].key_id != key_id and entry[0].platform_id != platform_id
        }


__all__ = ["PLATFORM_HEADER", "Authenticator", "Principal", "bearer_token", "metadata_value"]
