"""Protobuf <-> domain for PreviewSchedule: the range asked, the marked answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cronstream.v1 import preview_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from google.protobuf import duration_pb2

from cronstream_server.api.convert import Reader, trigger_for_job
from cronstream_server.api.convert_common import timestamp
from cronstream_server.core.clock_marks import ClockChange, MarkedInstant
from cronstream_server.core.schedule_preview import Preview, PreviewRange
from cronstream_server.core.triggers import Trigger

DEFAULT_PREVIEW_COUNT = 10
DEFAULT_RANGE_COUNT = 1000  # with an end_time, the range is the bound that matters
MAX_PREVIEW_COUNT = 1000


@dataclass(frozen=True, slots=True)
class PreviewAsk:
    """What a valid request asks: the range, and the trigger or the job to read it from."""

    bounds: PreviewRange
    trigger: Trigger | None  # the request's job's; None when job_id names the job
    job_id: str


def preview_ask(reader: Reader, request: pb.PreviewScheduleRequest, now: datetime) -> PreviewAsk:
    """The request, checked: a violation is recorded for every bad field."""
    trigger = None
    if request.job_id:
        if request.HasField("job"):
            reader.bad("job_id", "give either job or job_id, not both")
    else:
        trigger = trigger_for_job(reader, request.job, "job", now)
    start = now
    if request.HasField("start_time"):
        start = reader.time("start_time", request.start_time) or now
    end = reader.time("end_time", request.end_time) if request.HasField("end_time") else None
    if end is not None and end <= start:
        reader.bad("end_time", "must be after start_time (which defaults to now)")
    default = DEFAULT_PREVIEW_COUNT if end is None else DEFAULT_RANGE_COUNT
    count = request.count or default
    if not 1 <= count <= MAX_PREVIEW_COUNT:
        reader.bad("count", f"must be 1 to {MAX_PREVIEW_COUNT} (0: {default})")
    return PreviewAsk(PreviewRange(start, count, end), trigger, request.job_id)


def preview_response(preview: Preview) -> pb.PreviewScheduleResponse:
    p95 = None
    if preview.p95_duration is not None:
        p95 = duration_pb2.Duration()
        p95.FromTimedelta(preview.p95_duration)
    summary = preview_pb2.PreviewSummary(
        instants_per_month=[
            preview_pb2.MonthCount(month=month, count=count)
            for month, count in preview.instants_per_month
        ],
        clock_changes=[_clock_change(change) for change in preview.clock_changes],
        p95_duration=p95,
        predicted_overlaps=preview.predicted_overlaps,
        truncated=preview.truncated,
    )
    response = pb.PreviewScheduleResponse(
        instants=[_instant(instant) for instant in preview.instants], summary=summary
    )
    for instant in preview.times:
        response.times.add().FromDatetime(instant)
    return response


def _instant(instant: MarkedInstant) -> preview_pb2.ScheduledInstant:
    return preview_pb2.ScheduledInstant(
        time=timestamp(instant.time),
        local_time=instant.local_time.isoformat(),
        utc_offset_seconds=instant.utc_offset_seconds,
        shifted=instant.shifted,
        scheduled_wall_time=instant.scheduled_wall_time or "",
        repeated_hour=instant.repeated_hour,
    )


def _clock_change(change: ClockChange) -> preview_pb2.ClockChange:
    return preview_pb2.ClockChange(
        at=timestamp(change.at),
        offset_before_seconds=change.offset_before_seconds,
        offset_after_seconds=change.offset_after_seconds,
        skipped_wall_times=change.skipped_wall_times,
    )
