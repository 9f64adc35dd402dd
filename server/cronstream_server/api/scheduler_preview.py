"""SchedulerService: PreviewSchedule."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert import Reader
from cronstream_server.api.convert_preview import preview_ask, preview_response
from cronstream_server.api.deps import Context, SchedulerDeps
from cronstream_server.api.interceptor import current_platform
from cronstream_server.core import schedule_preview
from cronstream_server.core.triggers import Trigger
from cronstream_server.core.validation import raise_if_any


class PreviewRpcs:
    deps: SchedulerDeps

    async def PreviewSchedule(
        self, request: pb.PreviewScheduleRequest, context: Context
    ) -> pb.PreviewScheduleResponse:
        """The very code the engine fires with (core.triggers), on the request's
        trigger as CreateJob would build it now, or on the stored job's."""
        reader = Reader()
        ask = preview_ask(reader, request, self.deps.now())
        raise_if_any(reader.violations)
        trigger, p95 = ask.trigger, None
        if ask.job_id:
            trigger, p95 = await self._job_trigger(ask.job_id)
        # No violations, so trigger_for_job built one; a stored job always has one.
        assert trigger is not None
        # Pure CPU, up to seconds for a sparse schedule (1,000 leap days walk
        # 4,000 years of a zone's changes): off the event loop, which keeps
        # serving (and, in this process, ticking) meanwhile.
        found = await asyncio.to_thread(schedule_preview.preview, trigger, ask.bounds, p95)
        return preview_response(found)

    async def _job_trigger(self, job_id: str) -> tuple[Trigger | None, timedelta | None]:
        """The job's trigger and the p95 of its durations; NOT_FOUND when it is
        not the caller's."""
        platform_id = current_platform().platform_id
        job = await self.deps.jobs.get_job(platform_id, job_id)
        p95_ms = await self.deps.insight.p95_duration_ms(platform_id, job.id)
        p95 = None if p95_ms is None else timedelta(milliseconds=p95_ms)
        return job.spec.trigger, p95
