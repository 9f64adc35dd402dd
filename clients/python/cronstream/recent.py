"""What `Client.get_recent_runs` returns: each job's latest runs, as a job
list draws its last outcome and a sparkline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cronstream._convert import optional_datetime, optional_timedelta
from cronstream._enums import ExecutionStatus
from cronstream.v1 import insight_pb2


@dataclass(frozen=True, slots=True, kw_only=True)
class RecentRun:
    """One execution that ended (or was skipped)."""

    execution_id: str
    #: Its final status.
    status: ExecutionStatus
    #: The instant it was scheduled for.
    scheduled_at: datetime | None
    #: How long it ran; None when it never started.
    duration: timedelta | None
    #: How late it started after its instant; None when it never started.
    lateness: timedelta | None
    proto: insight_pb2.RecentRun = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: insight_pb2.RecentRun) -> RecentRun:
        return cls(
            execution_id=m.execution_id,
            status=ExecutionStatus.of(m.status),
            scheduled_at=optional_datetime(m, "scheduled_at"),
            duration=optional_timedelta(m, "duration"),
            lateness=optional_timedelta(m, "lateness"),
            proto=m,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRecentRuns:
    """The latest runs of one job, newest first."""

    #: The id as asked.
    job_id: str
    #: Empty when the job has none, or is not the caller's (or no job at all).
    runs: tuple[RecentRun, ...]
    proto: insight_pb2.JobRecentRuns = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, m: insight_pb2.JobRecentRuns) -> JobRecentRuns:
        return cls(
            job_id=m.job_id,
            runs=tuple(RecentRun.from_proto(run) for run in m.runs),
            proto=m,
        )
