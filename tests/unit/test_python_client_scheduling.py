"""The Python client's scheduling controls, without I/O: job specs with
concurrency, rate-limit keys and dependencies as sent, the views of jobs and
executions that carry them, the requests of bulk pause, backfill and
preview, rate limits, and a preview's clock marks read as Python types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from cronstream import (
    Backfill,
    BulkChange,
    ConcurrencyLimit,
    EventHandler,
    Execution,
    ExecutionStatus,
    ExecutionTrigger,
    Job,
    RateLimit,
    SchedulePreview,
)
from cronstream._build import (
    backfill_request,
    event_handler_message,
    job_message,
    job_selector,
    pause_jobs_request,
    preview_request,
)
from cronstream._convert import duration, timestamp
from cronstream._scheduling_calls import _until_none_remain
from cronstream.scheduling import rate_limit_message, rate_limit_scope
from cronstream.v1 import execution_pb2, job_pb2, preview_pb2, rate_limit_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

AT = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))

# --- job specs ------------------------------------------------------------------------


def test_a_job_spec_carries_concurrency_rate_limit_key_and_dependencies() -> None:
    message, paths = job_message(
        {
            "name": "sync",
            "handler": "sync_customer",
            "cron": "*/5 * * * *",
            "concurrency": ConcurrencyLimit("customer:{payload.customer_id}", 2),
            "rate_limit_key": "crm-api",
            "depends_on": ["j_extract", "j_load"],
            "max_wait": timedelta(minutes=30),
        }
    )
    assert (message.concurrency.key, message.concurrency.limit) == (
        "customer:{payload.customer_id}",
        2,
    )
    assert message.rate_limit_key == "crm-api"
    assert list(message.depends_on) == ["j_extract", "j_load"]
    assert message.max_wait.ToTimedelta() == timedelta(minutes=30)
    # update_job's mask names exactly these fields, so a partial update can
    # change one of them without touching the rest.
    assert paths == [
        "cron",
        "name",
        "handler_name",
        "concurrency",
        "rate_limit_key",
        "depends_on",
        "max_wait",
    ]


def test_concurrency_takes_a_key_limit_pair_and_refuses_anything_else() -> None:
    message, _ = job_message({"concurrency": ("tenant-db", 5)})
    assert (message.concurrency.key, message.concurrency.limit) == ("tenant-db", 5)
    with pytest.raises(TypeError, match="ConcurrencyLimit or a \\(key, limit\\) pair"):
        job_message({"concurrency": 5})  # type: ignore[typeddict-item]


def test_an_event_handler_spec_carries_concurrency_and_a_rate_limit_key() -> None:
    message, paths = event_handler_message(
        {"event": "order.placed", "concurrency": ("orders", 3), "rate_limit_key": "mailer"}
    )
    assert (message.concurrency.key, message.concurrency.limit, message.rate_limit_key) == (
        "orders",
        3,
        "mailer",
    )
    assert paths == ["event_name", "concurrency", "rate_limit_key"]
    view = EventHandler.from_proto(message)
    assert (view.concurrency, view.rate_limit_key) == (ConcurrencyLimit("orders", 3), "mailer")


# --- views ----------------------------------------------------------------------------


def test_a_job_reads_its_pause_deadline_limits_and_dependencies() -> None:
    message = job_pb2.Job(
        id="j1",
        status=job_pb2.JOB_STATUS_PAUSED,
        paused_until=timestamp(AT),
        concurrency=job_pb2.ConcurrencyLimit(key="k", limit=4),
        rate_limit_key="customer:{payload.id}",
        depends_on=["j0"],
        max_wait=duration(timedelta(hours=2)),
    )
    job = Job.from_proto(message)
    assert job.paused_until == AT and job.paused_until.tzinfo is UTC
    assert job.concurrency == ConcurrencyLimit("k", 4)
    assert (job.rate_limit_key, job.depends_on) == ("customer:{payload.id}", ("j0",))
    assert job.max_wait == timedelta(hours=2)


def test_a_job_without_them_reads_none_and_empty() -> None:
    job = Job.from_proto(job_pb2.Job(id="j1"))
    assert (job.paused_until, job.concurrency, job.max_wait) == (None, None, None)
    assert (job.rate_limit_key, job.depends_on) == ("", ())


def test_a_waiting_execution_reads_what_it_waits_for() -> None:
    message = execution_pb2.Execution(
        id="e1",
        status=execution_pb2.EXECUTION_STATUS_WAITING,
        trigger=execution_pb2.EXECUTION_TRIGGER_BACKFILL,
        concurrency_key="customer:42",
        rate_limit_key="crm-api",
        waiting_for=["j_extract"],
        wait_deadline=timestamp(AT),
    )
    execution = Execution.from_proto(message)
    assert execution.status is ExecutionStatus.WAITING
    assert execution.trigger is ExecutionTrigger.BACKFILL
    assert (execution.concurrency_key, execution.rate_limit_key) == ("customer:42", "crm-api")
    assert (execution.waiting_for, execution.wait_deadline) == (("j_extract",), AT)
    assert Execution.from_proto(execution_pb2.Execution()).wait_deadline is None


def test_only_ended_executions_are_final_and_waiting_is_not() -> None:
    final = {status for status in ExecutionStatus if status.final}
    assert final == {
        ExecutionStatus.SUCCESS,
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMEOUT,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.SKIPPED,
    }
    assert not ExecutionStatus.WAITING.final and not ExecutionStatus.PENDING.final


# --- bulk pause and resume ------------------------------------------------------------


def test_a_selector_combines_its_filters_and_pause_carries_until_and_limit() -> None:
    selector = job_selector(tags=["etl"], handler="load", name_prefix="nightly-")
    request = pause_jobs_request(selector, AT, 500)
    assert list(request.selector.tags) == ["etl"]
    assert (request.selector.handler_name, request.selector.name_prefix) == ("load", "nightly-")
    assert not request.selector.all
    assert (request.until.ToDatetime(tzinfo=UTC), request.limit) == (AT, 500)
    assert not pause_jobs_request(job_selector(all_jobs=True), None, 0).HasField("until")
    assert job_selector(all_jobs=True).all


async def test_the_loop_adds_up_each_call_until_none_remain() -> None:
    steps = iter([BulkChange(1000, 1500), BulkChange(1000, 500), BulkChange(500, 0)])

    async def call() -> BulkChange:
        return next(steps)

    assert await _until_none_remain(call) == BulkChange(2500, 0)


async def test_the_loop_stops_when_a_call_changes_nothing() -> None:
    calls = 0

    async def call() -> BulkChange:
        nonlocal calls
        calls += 1
        return BulkChange(0, 7)  # matching jobs left, but none changed: no progress

    assert await _until_none_remain(call) == BulkChange(0, 7)
    assert calls == 1


# --- backfill -------------------------------------------------------------------------


def test_a_backfill_request_names_its_range_and_overlap_policy() -> None:
    request = backfill_request("j1", AT - timedelta(days=7), AT, "buffer_one")
    assert request.id == "j1"
    assert request.start_time.ToDatetime(tzinfo=UTC) == AT - timedelta(days=7)
    assert request.end_time.ToDatetime(tzinfo=UTC) == AT
    assert request.overlap_policy == job_pb2.OVERLAP_POLICY_BUFFER_ONE
    unset = backfill_request("j1", AT - timedelta(days=1), AT, None)
    assert unset.overlap_policy == job_pb2.OVERLAP_POLICY_UNSPECIFIED
    with pytest.raises(ValueError, match="naive"):
        backfill_request("j1", datetime(2030, 1, 1), AT, None)
    counts = Backfill.from_proto(pb.BackfillJobResponse(instants=168, created=160, existing=8))
    assert counts == Backfill(instants=168, created=160, existing=8)


# --- preview --------------------------------------------------------------------------


def test_a_preview_request_takes_a_trigger_or_a_job_id_and_a_range() -> None:
    before = AT + timedelta(days=30)
    request = preview_request(
        {"cron": "30 2 * * *", "timezone": "Europe/Berlin"},
        job_id="",
        after=AT,
        before=before,
        count=None,
    )
    assert request.job.cron.expression == "30 2 * * *"
    assert request.end_time.ToDatetime(tzinfo=UTC) == before
    assert request.count == 0  # the server's default: 10, or 1,000 with an end
    by_id = preview_request({}, job_id="j1", after=None, before=None, count=5)
    assert (by_id.job_id, by_id.count, by_id.HasField("job")) == ("j1", 5, False)
    assert not by_id.HasField("start_time") and not by_id.HasField("end_time")


def test_a_preview_reads_its_dst_marks_and_summary_as_python_types() -> None:
    shifted_at = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST, the first after the jump
    response = pb.PreviewScheduleResponse(
        times=[timestamp(shifted_at)],
        instants=[
            preview_pb2.ScheduledInstant(
                time=timestamp(shifted_at),
                local_time="2026-03-29T03:00:00+02:00",
                utc_offset_seconds=7200,
                shifted=True,
                scheduled_wall_time="02:30",
            )
        ],
        summary=preview_pb2.PreviewSummary(
            instants_per_month=[
                preview_pb2.MonthCount(month="2026-03", count=3),
                preview_pb2.MonthCount(month="2026-04", count=1),
            ],
            clock_changes=[
                preview_pb2.ClockChange(
                    at=timestamp(shifted_at),
                    offset_before_seconds=3600,
                    offset_after_seconds=7200,
                )
            ],
            p95_duration=duration(timedelta(minutes=25)),
            predicted_overlaps=2,
            truncated=True,
        ),
    )
    preview = SchedulePreview.from_proto(response)
    (instant,) = preview.instants
    assert instant.time == shifted_at
    assert instant.local_time == datetime(2026, 3, 29, 3, 0, tzinfo=CEST)
    assert instant.local_time.utcoffset() == timedelta(hours=2) == instant.utc_offset
    assert (instant.shifted, instant.scheduled_wall_time, instant.repeated_hour) == (
        True,
        "02:30",
        False,
    )
    summary = preview.summary
    assert summary.instants_per_month == {"2026-03": 3, "2026-04": 1}
    assert list(summary.instants_per_month) == ["2026-03", "2026-04"]  # in order
    (change,) = summary.clock_changes
    assert (change.at, change.offset_before, change.offset_after) == (
        shifted_at,
        timedelta(hours=1),
        timedelta(hours=2),
    )
    assert (summary.p95_duration, summary.predicted_overlaps, summary.truncated) == (
        timedelta(minutes=25),
        2,
        True,
    )
    assert preview.times == [shifted_at]


def test_a_preview_from_an_older_server_still_has_its_times() -> None:
    response = pb.PreviewScheduleResponse(times=[timestamp(AT)])
    preview = SchedulePreview.from_proto(response)
    assert preview.times == [AT] and preview.instants == ()
    assert preview.summary.p95_duration is None and preview.summary.instants_per_month == {}


# --- rate limits ----------------------------------------------------------------------


def test_a_rate_limit_is_of_a_key_or_of_a_handler_never_both() -> None:
    by_key = rate_limit_message(
        key="customer:{payload.id}", handler=None, limit=10, per=timedelta(seconds=1), burst=20
    )
    assert (by_key.WhichOneof("scope"), by_key.key) == ("key", "customer:{payload.id}")
    assert (by_key.limit, by_key.per.ToTimedelta(), by_key.burst) == (
        10,
        timedelta(seconds=1),
        20,
    )
    by_handler = rate_limit_message(
        key=None, handler="send_sms", limit=100, per=timedelta(minutes=1), burst=None
    )
    assert (by_handler.WhichOneof("scope"), by_handler.handler_name) == (
        "handler_name",
        "send_sms",
    )
    assert by_handler.burst == 0  # the server's default: the limit
    assert rate_limit_scope("", None) == ("key", "")  # the server judges an empty key
    for key, handler in ((None, None), ("k", "h")):
        with pytest.raises(ValueError, match="exactly one of key= and handler="):
            rate_limit_scope(key, handler)


def test_a_stored_rate_limit_reads_as_python_types() -> None:
    message = rate_limit_pb2.RateLimit(
        handler_name="send_sms",
        limit=100,
        per=duration(timedelta(minutes=1)),
        burst=150,
        platform_id="p1",
        created_at=timestamp(AT),
    )
    limit = RateLimit.from_proto(message)
    assert (limit.key, limit.handler_name, limit.limit, limit.burst) == ("", "send_sms", 100, 150)
    assert (limit.per, limit.created_at, limit.updated_at) == (timedelta(minutes=1), AT, None)
    assert limit.proto is message
