"""SchedulerService: BackfillJob."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert import OVERLAP, Reader
from cronstream_server.api.deps import Context, SchedulerDeps
from cronstream_server.api.interceptor import current_platform
from cronstream_server.core import backfill as rules
from cronstream_server.core.backfill import BackfillRequest
from cronstream_server.core.enums import OverlapPolicy
from cronstream_server.core.validation import raise_if_any
from cronstream_server.telemetry.context import current_trace_context


class BackfillRpcs:
    deps: SchedulerDeps

    async def BackfillJob(
        self, request: pb.BackfillJobRequest, context: Context
    ) -> pb.BackfillJobResponse:
        assert self.deps.backfills is not None, "server.py gives the servicer its backfills"
        asked = _read(request, self.deps.now())
        outcome = await self.deps.backfills.backfill(
            current_platform().platform_id, request.id, asked, current_trace_context()
        )
        done = await self.deps.done(outcome)
        return pb.BackfillJobResponse(
            instants=done.instants, created=done.created, existing=done.existing
        )


def _read(request: pb.BackfillJobRequest, now: datetime) -> BackfillRequest:
    """The request's range and policy, or InvalidArgument naming every bad field."""
    reader = Reader()
    start = _required_time(reader, request, "start_time")
    end = _required_time(reader, request, "end_time")
    policy: OverlapPolicy | None = None
    if request.overlap_policy:  # unspecified: from the job's own (core.backfill.policy_for)
        policy = reader.enum("overlap_policy", request.overlap_policy, OVERLAP, OverlapPolicy.ALLOW)
    raise_if_any(reader.violations)
    assert start is not None and end is not None  # no violations: both were read
    asked = BackfillRequest(start, end, policy)
    raise_if_any(rules.check_request(asked, now))
    return asked


def _required_time(
    reader: Reader, request: pb.BackfillJobRequest, name: Literal["start_time", "end_time"]
) -> datetime | None:
    if not request.HasField(name):
        reader.bad(name, "is required")
        return None
    return reader.time(name, getattr(request, name))
