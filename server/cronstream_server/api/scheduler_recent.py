"""SchedulerService: GetRecentRuns, the latest runs of the jobs a list shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from cronstream.v1 import insight_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from google.protobuf import duration_pb2

from cronstream_server.api.convert import EXECUTION_STATUS, Reader
from cronstream_server.api.convert_common import duration_from_ms, timestamp
from cronstream_server.api.deps import Context, SchedulerDeps
from cronstream_server.api.interceptor import current_platform
from cronstream_server.core.insight import DEFAULT_RECENT_RUNS, MAX_RECENT_RUNS, RecentRun
from cronstream_server.core.validation import raise_if_any

# A job list's page: its ids in one call.
MAX_RECENT_JOBS = 200


class RecentRpcs:
    deps: SchedulerDeps

    async def GetRecentRuns(
        self, request: pb.GetRecentRunsRequest, context: Context
    ) -> pb.GetRecentRunsResponse:
        limit = _read_limits(request)
        found = await self.deps.insight_use.recent_runs(
            current_platform().platform_id, list(request.job_ids), limit
        )
        return pb.GetRecentRunsResponse(
            jobs=[_job_runs_message(job_id, runs) for job_id, runs in found]
        )


def _read_limits(request: pb.GetRecentRunsRequest) -> int:
    """The runs per job the request asks for; InvalidArgument for a count of
    ids or a limit out of range."""
    reader = Reader()
    count = len(request.job_ids)
    if not 1 <= count <= MAX_RECENT_JOBS:
        reader.bad("job_ids", f"has {count} ids; send 1 to {MAX_RECENT_JOBS}")
    if not 0 <= request.limit <= MAX_RECENT_RUNS:
        reader.bad("limit", f"is {request.limit}; send 0 (the default) to {MAX_RECENT_RUNS}")
    raise_if_any(reader.violations)
    return request.limit or DEFAULT_RECENT_RUNS


def _job_runs_message(job_id: str, runs: Sequence[RecentRun]) -> insight_pb2.JobRecentRuns:
    return insight_pb2.JobRecentRuns(job_id=job_id, runs=[_run_message(run) for run in runs])


def _run_message(run: RecentRun) -> insight_pb2.RecentRun:
    return insight_pb2.RecentRun(
        execution_id=run.execution_id,
        status=EXECUTION_STATUS[run.status],
        scheduled_at=timestamp(run.scheduled_at),
        duration=duration_from_ms(run.duration_ms) if run.started_at is not None else None,
        lateness=_duration(run.lateness),
    )


def _duration(value: timedelta | None) -> duration_pb2.Duration | None:
    if value is None:
        return None
    message = duration_pb2.Duration()
    message.FromTimedelta(value)
    return message
