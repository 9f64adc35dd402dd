"""Bad input is refused with INVALID_ARGUMENT naming the field, and stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from cronstream.v1 import job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from google.protobuf import duration_pb2, timestamp_pb2

from tests.conftest import Live, Tenant
from tests.jobs import cron_job, seconds, ts
from tests.status import expect_code, violations


def _interval(**fields: object) -> job_pb2.Job:
    return job_pb2.Job(name="i", handler_name="h", interval=job_pb2.IntervalTrigger(**fields))  # type: ignore[arg-type]


def _with_payload(size: int) -> job_pb2.Job:
    job = cron_job()
    job.payload.update({"blob": "x" * size})
    return job


START = datetime(2030, 1, 1, tzinfo=UTC)

# (case id, job, field path named in the violation)
CASES: list[tuple[str, job_pb2.Job, str]] = [
    ("cron-minute-out-of-range", cron_job("61 * * * *"), "job.cron.expression"),
    ("cron-hour-out-of-range", cron_job("0 24 * * *"), "job.cron.expression"),
    ("cron-month-zero", cron_job("0 0 1 0 *"), "job.cron.expression"),
    ("cron-four-fields", cron_job("* * * *"), "job.cron.expression"),
    ("cron-seven-fields", cron_job("* * * * * * *"), "job.cron.expression"),
    ("cron-empty", cron_job(""), "job.cron.expression"),
    ("cron-garbage", cron_job("every day at noon"), "job.cron.expression"),
    ("cron-never-fires", cron_job("0 0 30 2 *"), "job.cron.expression"),
    ("cron-never-fires-31st", cron_job("0 0 31 4,6,9,11 *"), "job.cron.expression"),
    ("timezone-unknown", cron_job(timezone="Mars/Olympus_Mons"), "job.cron.timezone"),
    ("timezone-path", cron_job(timezone="../../../etc/passwd"), "job.cron.timezone"),
    ("timezone-absolute-path", cron_job(timezone="/etc/localtime"), "job.cron.timezone"),
    ("every-zero", _interval(every=seconds(0)), "job.interval.every"),
    ("every-negative", _interval(every=duration_pb2.Duration(seconds=-5)), "job.interval.every"),
    (
        "end-before-start",
        _interval(every=seconds(60), start_at=ts(START), end_at=ts(START.replace(year=2029))),
        "job.interval.end_at",
    ),
    ("max-runs-negative", _interval(every=seconds(60), max_runs=-1), "job.interval.max_runs"),
    ("negative-retries", cron_job(max_retries=-1), "job.max_retries"),
    ("too-many-retries", cron_job(max_retries=1000), "job.max_retries"),
    ("timeout-zero", cron_job(timeout=seconds(0)), "job.timeout"),
    ("timeout-negative", cron_job(timeout=duration_pb2.Duration(seconds=-1)), "job.timeout"),
    ("retry-delay-zero", cron_job(retry_delay=seconds(0)), "job.retry_delay"),
    ("name-empty", cron_job(name=""), "job.name"),
    ("name-too-long", cron_job(name="n" * 201), "job.name"),
    ("name-control-character", cron_job(name="bell\x07"), "job.name"),
    ("name-newline", cron_job(name="two\nlines"), "job.name"),
    ("handler-empty", cron_job(handler_name=""), "job.handler_name"),
    ("handler-control", cron_job(handler_name="h\x00"), "job.handler_name"),
    ("too-many-tags", cron_job(tags=[f"t{i}" for i in range(33)]), "job.tags"),
    ("tag-empty", cron_job(tags=["ok", ""]), "job.tags[1]"),
    ("tag-too-long", cron_job(tags=["t" * 65]), "job.tags[0]"),
    ("payload-over-cap", _with_payload(300 * 1024), "job.payload"),
    ("no-trigger", job_pb2.Job(name="n", handler_name="h"), "job.trigger"),
    (
        "once-without-run-at",
        job_pb2.Job(name="n", handler_name="h", once=job_pb2.OnceTrigger()),
        "job.once.run_at",
    ),
    (
        "once-out-of-range",
        job_pb2.Job(
            name="n",
            handler_name="h",
            once=job_pb2.OnceTrigger(run_at=timestamp_pb2.Timestamp(seconds=-(10**12))),
        ),
        "job.once.run_at",
    ),
    (
        "event-name-empty",
        job_pb2.Job(name="n", handler_name="h", event=job_pb2.EventTrigger()),
        "job.event.event_name",
    ),
    ("priority-unknown", cron_job(priority=99), "job.priority"),  # type: ignore[arg-type]
    ("overlap-unknown", cron_job(overlap_policy=42), "job.overlap_policy"),  # type: ignore[arg-type]
    ("jitter-negative", cron_job(jitter=duration_pb2.Duration(seconds=-1)), "job.jitter"),
    ("metadata-key-empty", cron_job(metadata={"": "v"}), "job.metadata['']"),
]


@pytest.mark.parametrize(("job", "field"), [pytest.param(j, f, id=i) for i, j, f in CASES])
async def test_create_job_refuses_bad_input(
    live: Live, tenant: Tenant, job: job_pb2.Job, field: str
) -> None:
    error = await expect_code(
        live.scheduler.CreateJob(pb.CreateJobRequest(job=job), metadata=tenant.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    found = violations(error)
    assert field in found, found
    assert found[field]  # a description a person can act on
    listed = await live.scheduler.ListJobs(pb.ListJobsRequest(), metadata=tenant.auth)
    assert list(listed.jobs) == []


async def test_batch_create_jobs_refuses_bad_input_naming_the_request(
    live: Live, tenant: Tenant
) -> None:
    # The same table through BatchCreateJobs, the bad job between two good
    # ones: one server for every case, each case its own all-or-nothing batch.
    for case, job, field in CASES:
        request = pb.BatchCreateJobsRequest(
            requests=[pb.CreateJobRequest(job=j) for j in (cron_job(), job, cron_job())]
        )
        error = await expect_code(
            live.scheduler.BatchCreateJobs(request, metadata=tenant.auth),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        found = violations(error)
        assert f"requests[1].{field}" in found, (case, found)
        assert all(path.startswith("requests[1].") for path in found), (case, found)
    listed = await live.scheduler.ListJobs(pb.ListJobsRequest(), metadata=tenant.auth)
    assert list(listed.jobs) == []


async def test_every_bad_field_is_reported_at_once(live: Live, tenant: Tenant) -> None:
    job = cron_job("61 * * * *", "Nowhere/City", name="", max_retries=-2, tags=[""])
    error = await expect_code(
        live.scheduler.CreateJob(pb.CreateJobRequest(job=job), metadata=tenant.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {
        "job.cron.expression",
        "job.cron.timezone",
        "job.name",
        "job.max_retries",
        "job.tags[0]",
    }


async def test_cron_error_messages_say_what_is_wrong(live: Live, tenant: Tenant) -> None:
    error = await expect_code(
        live.scheduler.CreateJob(
            pb.CreateJobRequest(job=cron_job("61 * * * *")), metadata=tenant.auth
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "61" in violations(error)["job.cron.expression"]


async def test_missing_job_is_invalid(live: Live, tenant: Tenant) -> None:
    error = await expect_code(
        live.scheduler.CreateJob(pb.CreateJobRequest(), metadata=tenant.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "job" in violations(error)


async def test_a_huge_bad_value_is_still_invalid_argument(live: Live, tenant: Tenant) -> None:
    # Its description quotes the value; clipped, so the trailers stay under 8 KiB.
    job = cron_job(timezone="Z" * 20_000, metadata={"k" * 20_000: "v"})
    error = await expect_code(
        live.scheduler.CreateJob(pb.CreateJobRequest(job=job), metadata=tenant.auth),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "job.cron.timezone" in violations(error)


async def test_payload_over_the_transport_limit_is_resource_exhausted(
    live: Live, tenant: Tenant
) -> None:
    job = _with_payload(5 * 1024 * 1024)
    await expect_code(
        live.scheduler.CreateJob(pb.CreateJobRequest(job=job), metadata=tenant.auth),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    # The server is still fine afterwards.
    created = await live.scheduler.CreateJob(
        pb.CreateJobRequest(job=cron_job()), metadata=tenant.auth
    )
    assert created.job.id
