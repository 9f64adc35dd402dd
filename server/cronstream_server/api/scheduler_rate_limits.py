"""SchedulerService: rate limits (docs/scheduling.md#rate-limits)."""

from __future__ import annotations

from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert_rate_limits import (
    rate_limit_message,
    rate_limit_spec,
    scope_of,
)
from cronstream_server.api.deps import Context, SchedulerDeps
from cronstream_server.api.interceptor import current_platform


class RateLimitRpcs:
    deps: SchedulerDeps

    async def SetRateLimit(
        self, request: pb.SetRateLimitRequest, context: Context
    ) -> pb.SetRateLimitResponse:
        spec = rate_limit_spec(request)
        outcome = await self.deps.rate_limits_use.set(current_platform().platform_id, spec)
        return pb.SetRateLimitResponse(rate_limit=rate_limit_message(await self.deps.done(outcome)))

    async def ListRateLimits(
        self, request: pb.ListRateLimitsRequest, context: Context
    ) -> pb.ListRateLimitsResponse:
        found = await self.deps.rate_limits.list_limits(current_platform().platform_id)
        return pb.ListRateLimitsResponse(rate_limits=[rate_limit_message(r) for r in found])

    async def DeleteRateLimit(
        self, request: pb.DeleteRateLimitRequest, context: Context
    ) -> pb.DeleteRateLimitResponse:
        scope, name = scope_of(request)
        outcome = await self.deps.rate_limits_use.delete(
            current_platform().platform_id, scope, name
        )
        await self.deps.done(outcome)
        return pb.DeleteRateLimitResponse()
