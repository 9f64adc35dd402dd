"""The rate-limit use cases: set and delete, each one transaction through
the RateLimitStore port; either may let waiting executions start, so the
dispatchers of every replica look at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cronstream_server.core import rate_limits as rules
from cronstream_server.core.ports import RateLimitStore
from cronstream_server.core.rate_limits import RateLimit, RateLimitSpec, Scope
from cronstream_server.core.signals import WorkReady
from cronstream_server.service.outcome import Outcome


class RateLimitUseCases:
    def __init__(self, store: RateLimitStore, now: Callable[[], datetime]) -> None:
        self._store = store
        self._now = now

    async def set(self, platform_id: str, spec: RateLimitSpec) -> Outcome[RateLimit]:
        """Creates or replaces the limit (a valid spec, burst defaulted)."""
        now = self._now()
        stored = await self._store.set_limit(
            platform_id,
            spec.scope,
            spec.name,
            lambda before: rules.set_limit(spec, platform_id, now, before),
        )
        return Outcome(stored, (WorkReady(platform_id),))

    async def delete(self, platform_id: str, scope: Scope, name: str) -> Outcome[None]:
        await self._store.delete_limit(platform_id, scope, name)
        return Outcome(None, (WorkReady(platform_id),))
