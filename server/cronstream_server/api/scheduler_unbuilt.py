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
    async def PauseJobs(
        self, request: pb.PauseJobsRequest, context: Context
    ) -> pb.PauseJobsResponse:
        await _unbuilt(context, "PauseJobs")
        raise AssertionError("abort raises")

    async def ResumeJobs(
        self, request: pb.ResumeJobsRequest, context: Context
    ) -> pb.ResumeJobsResponse:
        await _unbuilt(context, "ResumeJobs")
        raise AssertionError("abort raises")

    async def BackfillJob(
        self, request: pb.BackfillJobRequest, context: Context
    ) -> pb.BackfillJobResponse:
        await _unbuilt(context, "BackfillJob")
        raise AssertionError("abort raises")
