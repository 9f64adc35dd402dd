"""SchedulerService: PauseJobs and ResumeJobs, the bulk pause and resume."""

from __future__ import annotations

from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert import Reader
from cronstream_server.api.deps import Context, SchedulerDeps
from cronstream_server.api.interceptor import current_platform
from cronstream_server.api.pausing import read_limit, read_selector, read_until
from cronstream_server.core.validation import raise_if_any


class PausingRpcs:
    deps: SchedulerDeps

    async def PauseJobs(
        self, request: pb.PauseJobsRequest, context: Context
    ) -> pb.PauseJobsResponse:
        reader = Reader()
        selector = read_selector(reader, request)
        until = read_until(reader, request, self.deps.now())
        limit = read_limit(reader, request)
        raise_if_any(reader.violations)
        outcome = await self.deps.jobs_use.pause_selected(
            current_platform().platform_id, selector, until, limit
        )
        done = await self.deps.done(outcome)
        return pb.PauseJobsResponse(changed=len(done.changed), remaining=done.remaining)

    async def ResumeJobs(
        self, request: pb.ResumeJobsRequest, context: Context
    ) -> pb.ResumeJobsResponse:
        reader = Reader()
        selector = read_selector(reader, request)
        limit = read_limit(reader, request)
        raise_if_any(reader.violations)
        outcome = await self.deps.jobs_use.resume_selected(
            current_platform().platform_id, selector, limit
        )
        done = await self.deps.done(outcome)
        return pb.ResumeJobsResponse(changed=len(done.changed), remaining=done.remaining)
