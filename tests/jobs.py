"""Builders for job requests used across suites."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cronstream.v1 import job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from google.protobuf import duration_pb2, timestamp_pb2

from tests.conftest import Live, Tenant


def ts(value: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def seconds(value: float) -> duration_pb2.Duration:
    message = duration_pb2.Duration()
    message.FromNanoseconds(int(value * 1e9))
    return message


def cron_job(expression: str = "*/5 * * * *", timezone: str = "", **fields: Any) -> job_pb2.Job:
    fields.setdefault("name", "every five minutes")
    fields.setdefault("handler_name", "tick")
    return job_pb2.Job(cron=job_pb2.CronTrigger(expression=expression, timezone=timezone), **fields)


async def create(live: Live, tenant: Tenant, job: job_pb2.Job, request_id: str = "") -> job_pb2.Job:
    response = await live.scheduler.CreateJob(
        pb.CreateJobRequest(job=job, request_id=request_id), metadata=tenant.auth
    )
    return response.job
