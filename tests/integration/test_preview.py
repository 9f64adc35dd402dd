"""PreviewSchedule's clock marks, summary, end_time and job_id over real gRPC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from cronstream.v1 import job_pb2, preview_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.core.enums import ExecutionStatus
from google.protobuf import json_format

from tests.conftest import Live, Tenant, make_tenant
from tests.integration.test_insight import insert_runs
from tests.jobs import create, cron_job, seconds, ts
from tests.status import expect_code, violations

NEW_YORK = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def preview(live: Live, tenant: Tenant, **fields: Any) -> pb.PreviewScheduleResponse:
    request = pb.PreviewScheduleRequest(**fields)
    response: pb.PreviewScheduleResponse = await live.scheduler.PreviewSchedule(
        request, metadata=tenant.auth
    )
    return response


def instants(response: pb.PreviewScheduleResponse) -> list[dict[str, object]]:
    return [json_format.MessageToDict(i) for i in response.instants]


async def test_a_new_york_job_across_the_march_change(live: Live, tenant: Tenant) -> None:
    got = await preview(
        live,
        tenant,
        job=cron_job("30 2 * * *", NEW_YORK),
        start_time=ts(utc(2026, 3, 7)),
        end_time=ts(utc(2026, 3, 10)),
    )
    assert [t.ToDatetime(tzinfo=UTC) for t in got.times] == [
        utc(2026, 3, 7, 7, 30),
        utc(2026, 3, 8, 7),
        utc(2026, 3, 9, 6, 30),
    ]
    assert instants(got) == [
        {
            "time": "2026-03-07T07:30:00Z",
            "localTime": "2026-03-07T02:30:00-05:00",
            "utcOffsetSeconds": -18000,
        },
        {
            "time": "2026-03-08T07:00:00Z",
            "localTime": "2026-03-08T03:00:00-04:00",
            "utcOffsetSeconds": -14400,
            "shifted": True,
            "scheduledWallTime": "02:30",
        },
        {
            "time": "2026-03-09T06:30:00Z",
            "localTime": "2026-03-09T02:30:00-04:00",
            "utcOffsetSeconds": -14400,
        },
    ]
    assert json_format.MessageToDict(got.summary) == {
        "instantsPerMonth": [{"month": "2026-03", "count": 3}],
        "clockChanges": [
            {
                "at": "2026-03-08T07:00:00Z",
                "offsetBeforeSeconds": -18000,
                "offsetAfterSeconds": -14400,
            }
        ],
    }
    assert not got.summary.HasField("p95_duration") and not got.summary.truncated


async def test_the_november_change_repeats_and_skips(live: Live, tenant: Tenant) -> None:
    start = ts(utc(2026, 11, 1, 4, 45))
    wildcard = await preview(
        live, tenant, job=cron_job("*/30 * * * *", NEW_YORK), start_time=start, count=5
    )
    assert [(i.local_time, i.repeated_hour) for i in wildcard.instants] == [
        ("2026-11-01T01:00:00-04:00", True),
        ("2026-11-01T01:30:00-04:00", True),
        ("2026-11-01T01:00:00-05:00", True),
        ("2026-11-01T01:30:00-05:00", True),
        ("2026-11-01T02:00:00-05:00", False),
    ]
    assert wildcard.summary.truncated
    fixed = await preview(
        live, tenant, job=cron_job("30 1 * * *", NEW_YORK), start_time=start, count=2
    )
    assert [i.local_time for i in fixed.instants] == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
    ]
    [change] = fixed.summary.clock_changes
    assert list(change.skipped_wall_times) == ["2026-11-01T01:30"]


async def test_end_time_bounds_the_range_with_a_count_of_1000(live: Live, tenant: Tenant) -> None:
    start = utc(2026, 1, 1)
    hourly = cron_job("0 * * * *", "Europe/Berlin")
    week = await preview(
        live, tenant, job=hourly, start_time=ts(start), end_time=ts(start + timedelta(days=7))
    )
    assert len(week.times) == 7 * 24 - 1  # strictly after start, strictly before end
    assert not week.summary.truncated
    months = await preview(
        live, tenant, job=hourly, start_time=ts(start), end_time=ts(utc(2026, 4, 1))
    )
    assert len(months.times) == 1000 and months.summary.truncated
    assert [(m.month, m.count) for m in months.summary.instants_per_month] == [
        ("2026-01", 22 + 30 * 24),  # Berlin's 2026-01-01 from 02:00 (start is 01:00 there)
        ("2026-02", 258),
    ]
    assert len((await preview(live, tenant, job=hourly, start_time=ts(start))).times) == 10


async def test_a_stored_job_by_id_and_its_predicted_overlaps(live: Live, tenant: Tenant) -> None:
    job = await create(live, tenant, cron_job("*/30 * * * *", NEW_YORK))
    by_id = await preview(live, tenant, job_id=job.id, start_time=ts(utc(2026, 3, 8, 6)), count=4)
    by_spec = await preview(
        live,
        tenant,
        job=cron_job("*/30 * * * *", NEW_YORK),
        start_time=ts(utc(2026, 3, 8, 6)),
        count=4,
    )
    assert by_id.instants == by_spec.instants
    assert list(by_id.summary.clock_changes[0].skipped_wall_times) == [
        "2026-03-08T02:00",
        "2026-03-08T02:30",
    ]
    # No successful execution yet: no p95, no prediction.
    assert not by_id.summary.HasField("p95_duration") and by_id.summary.predicted_overlaps == 0

    # p95 (nearest rank) of 100 s, 200 s, ..., 2000 s is the 19th: 1900 s, more
    # than the 30 minutes between instants. Failures and other jobs do not count.
    successes = [(ExecutionStatus.SUCCESS, 100_000 * k) for k in range(1, 21)]
    await insert_runs(live, tenant, job.id, *successes, (ExecutionStatus.FAILED, 10**8))
    other = await create(live, tenant, cron_job("0 0 * * *", name="other"))
    await insert_runs(live, tenant, other.id, (ExecutionStatus.SUCCESS, 10**8))
    got = await preview(live, tenant, job_id=job.id, start_time=ts(utc(2026, 3, 8, 6)), count=4)
    assert got.summary.p95_duration.ToTimedelta() == timedelta(seconds=1900)
    assert got.summary.predicted_overlaps == 3  # every instant after the first
    hourly = await create(live, tenant, cron_job("0 * * * *", name="hourly"))
    await insert_runs(live, tenant, hourly.id, *successes)
    assert (await preview(live, tenant, job_id=hourly.id, count=4)).summary.predicted_overlaps == 0


async def test_a_job_id_of_another_platform_is_not_found(live: Live, tenant: Tenant) -> None:
    theirs = await make_tenant(live, "globex")
    their_job = await create(live, theirs, cron_job("0 9 * * *"))
    for job_id in (their_job.id, "no-such-job"):
        await expect_code(
            live.scheduler.PreviewSchedule(
                pb.PreviewScheduleRequest(job_id=job_id), metadata=tenant.auth
            ),
            grpc.StatusCode.NOT_FOUND,
        )
    assert len((await preview(live, theirs, job_id=their_job.id)).times) == 10


async def test_bad_ranges_and_both_sources_are_refused(live: Live, tenant: Tenant) -> None:
    async def bad(**fields: Any) -> set[str]:
        request = pb.PreviewScheduleRequest(**fields)
        error = await expect_code(
            live.scheduler.PreviewSchedule(request, metadata=tenant.auth),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        return set(violations(error))

    job = cron_job("0 9 * * *")
    stored = await create(live, tenant, job)
    assert await bad(job=job, job_id=stored.id) == {"job_id"}
    start = utc(2030, 1, 1)
    assert await bad(job=job, start_time=ts(start), end_time=ts(start)) == {"end_time"}
    assert await bad(job=job, start_time=ts(start), end_time=ts(start - timedelta(days=1))) == {
        "end_time"
    }
    # start_time defaults to now: an end in the past is before it.
    assert await bad(job_id=stored.id, end_time=ts(utc(2020, 1, 1))) == {"end_time"}
    assert await bad(job_id=stored.id, count=1001) == {"count"}
    assert await bad(job=job_pb2.Job(name="no trigger"), job_id="") == {"job.trigger"}


async def test_interval_instants_are_shown_in_utc(live: Live, tenant: Tenant) -> None:
    start = utc(2026, 3, 7, 12)
    job = job_pb2.Job(
        interval=job_pb2.IntervalTrigger(every=seconds(12 * 3600), start_at=ts(start))
    )
    got = await preview(live, tenant, job=job, start_time=ts(start), count=2)
    assert [(i.local_time, i.utc_offset_seconds, i.shifted) for i in got.instants] == [
        ("2026-03-08T00:00:00+00:00", 0, False),
        ("2026-03-08T12:00:00+00:00", 0, False),
    ]
    assert list(got.summary.clock_changes) == []
    assert got.summary.instants_per_month == [preview_pb2.MonthCount(month="2026-03", count=2)]
