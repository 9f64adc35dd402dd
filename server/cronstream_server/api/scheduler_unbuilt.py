"""SchedulerService RPCs of issue 16 whose implementation has not landed yet:
each answers UNIMPLEMENTED, as a server without the RPC would. Each feature's
module takes its methods out of here; the module goes when it is empty."""

from __future__ import annotations

import grpc
from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.deps import Context


async def _unbuilt(context: Context, name: str) -> None:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{name} is not built yet")


class UnbuiltRpcs:
    async def SetRateLimit(
        self, request: pb.SetRateLimitRequest, context: Context
    ) -> pb.SetRateLimitResponse:
        await _unbuilt(context, "SetRateLimit")
        raise AssertionError("abort raises")

    async def ListRateLimits(
        self, request: pb.ListRateLimitsRequest, context: Context
    ) -> pb.ListRateLimitsResponse:
        await _unbuilt(context, "ListRateLimits")
        raise AssertionError("abort raises")

    async def DeleteRateLimit(
        self, request: pb.DeleteRateLimitRequest, context: Context
    ) -> pb.DeleteRateLimitResponse:
        await _unbuilt(context, "DeleteRateLimit")
        raise AssertionError("abort raises")
