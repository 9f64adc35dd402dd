"""Reading the pause requests: PauseJob's and PauseJobs' `until`, and the
bulk calls' selector and limit."""

from __future__ import annotations

from datetime import datetime

from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert import Reader
from cronstream_server.core import jobs as job_rules
from cronstream_server.core import selection


def read_until(
    reader: Reader, request: pb.PauseJobRequest | pb.PauseJobsRequest, now: datetime
) -> datetime | None:
    """The request's `until` (None: until ResumeJob), in the future."""
    if not request.HasField("until"):
        return None
    until = reader.time("until", request.until)
    if until is not None:
        job_rules.check_until(reader.violations, "until", until, now)
    return until


def read_selector(
    reader: Reader, request: pb.PauseJobsRequest | pb.ResumeJobsRequest
) -> selection.JobSelector:
    message = request.selector
    selector = selection.JobSelector(
        tags=tuple(message.tags),
        handler_name=message.handler_name,
        name_prefix=message.name_prefix,
        all=message.all,
    )
    selection.check_selector(reader.violations, "selector", selector)
    return selector


def read_limit(reader: Reader, request: pb.PauseJobsRequest | pb.ResumeJobsRequest) -> int:
    return selection.bulk_limit(reader.violations, "limit", request.limit)
