"""The Python client's convenience layer: results as Python types (enums by
name, aware datetimes, timedeltas), typed payloads and results, the
worker's log lines. No I/O."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cronstream import (
    Context,
    CronTrigger,
    Execution,
    ExecutionStatus,
    IntervalTrigger,
    Job,
    JobStats,
    JobStatus,
    LogLevel,
    LogLine,
    Priority,
    Worker,
)
from cronstream._attempt import Attempt, result_of
from cronstream._build import job_message
from cronstream._convert import struct, timestamp, to_dict
from cronstream._payloads import payload_type_of
from cronstream.models import MIRRORS
from cronstream.v1 import execution_pb2, insight_pb2, job_pb2
from cronstream.v1 import worker_service_pb2 as wpb
from google.protobuf import duration_pb2

AT = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)

# --- enums, datetimes, durations ----------------------------------------------------


@pytest.mark.parametrize(("ours", "generated", "prefix"), MIRRORS)
def test_each_enum_mirrors_the_generated_one(
    ours: type[enum.IntEnum], generated: Any, prefix: str
) -> None:
    assert {m.name: m.value for m in ours} == {
        name.removeprefix(prefix): number for name, number in generated.items()
    }


def test_enums_print_by_name_and_still_equal_the_generated_values() -> None:
    assert str(JobStatus.ACTIVE) == "JobStatus.ACTIVE" == f"{JobStatus.ACTIVE}"
    assert JobStatus.ACTIVE == job_pb2.JOB_STATUS_ACTIVE
    assert JobStatus.of(99) is JobStatus.UNSPECIFIED  # a newer server's value


def test_a_job_reads_as_python_types() -> None:
    message, _ = job_message(
        {
            "name": "n",
            "handler": "h",
            "every": timedelta(seconds=90),
            "start_at": AT,
            "max_runs": 3,
            "retry_delay": timedelta(seconds=30),
            "priority": Priority.HIGH,
            "payload": {"a": 1},
            "tags": ["x"],
        }
    )
    message.status = job_pb2.JOB_STATUS_PAUSED
    message.next_run.CopyFrom(timestamp(AT))
    job = Job.from_proto(message)
    assert job.status is JobStatus.PAUSED and repr(job.status) == "<JobStatus.PAUSED: 3>"
    assert job.priority is Priority.HIGH
    assert job.trigger == IntervalTrigger(timedelta(seconds=90), AT, None, 3)
    assert job.next_run == AT and job.next_run.tzinfo is UTC
    assert job.last_run is None and job.timeout is None  # unset is None, not the epoch
    assert job.retry_delay == timedelta(seconds=30)
    assert (job.payload, job.tags, job.max_retries) == ({"a": 1}, ("x",), None)
    assert job.proto is message and "proto" not in repr(job)


def test_a_cron_job_names_its_trigger() -> None:
    message, _ = job_message({"cron": "0 3 * * *", "timezone": "Europe/Berlin"})
    assert Job.from_proto(message).trigger == CronTrigger("0 3 * * *", "Europe/Berlin")


def test_executions_logs_and_stats_read_as_python_types() -> None:
    message = execution_pb2.Execution(
        id="e", status=execution_pb2.EXECUTION_STATUS_SUCCESS, result=struct({"ok": True})
    )
    message.duration.CopyFrom(duration_pb2.Duration(seconds=2, nanos=500_000_000))
    message.started_at.CopyFrom(timestamp(AT))
    execution = Execution.from_proto(message)
    assert execution.status is ExecutionStatus.SUCCESS
    assert execution.duration == timedelta(seconds=2.5)
    assert execution.started_at == AT and execution.completed_at is None
    assert execution.result == {"ok": True}
    assert Execution.from_proto(execution_pb2.Execution()).result is None

    line = LogLine.from_proto(
        execution_pb2.ExecutionLog(level=execution_pb2.LOG_LEVEL_WARN, time=timestamp(AT))
    )
    assert (line.level, line.time) == (LogLevel.WARN, AT)

    stats = JobStats.from_proto(
        insight_pb2.JobStats(
            executions_by_status=[
                insight_pb2.ExecutionStatusCount(
                    status=execution_pb2.EXECUTION_STATUS_FAILED, count=2
                )
            ]
        )
    )
    assert stats.executions_by_status == {ExecutionStatus.FAILED: 2}


def test_jobs_take_python_enums_too() -> None:
    message, paths = job_message({"priority": Priority.LOW, "overlap_policy": "skip"})
    assert message.priority == job_pb2.PRIORITY_LOW
    assert paths == ["priority", "overlap_policy"]


# --- typed payloads ---------------------------------------------------------------


class Channel(enum.Enum):
    EMAIL = "email"
    SMS = "sms"


@dataclass(frozen=True)
class Recipient:
    address: str
    channel: Channel = Channel.EMAIL


@dataclass(frozen=True)
class Report:
    title: str
    rows: int
    recipients: list[Recipient] = field(default_factory=list)
    ratio: float = 1.0
    due: datetime | None = None


@dataclass(frozen=True)
class Summary:
    sent: int
    at: datetime


def assignment(payload: dict[str, Any]) -> wpb.Assignment:
    message = wpb.Assignment(execution_id="e1", handler_name="h", attempt=2)
    message.payload.update(payload)
    return message


async def run_attempt(handler: Any, payload: dict[str, Any]) -> wpb.WorkerResult:
    import asyncio

    async def send(_: wpb.ConnectRequest) -> bool:
        return True

    kind = payload_type_of(handler)
    attempt = Attempt(assignment(payload), handler, send, payload_type=kind)
    return await attempt.run(asyncio.Semaphore(1))


def test_the_payload_type_comes_from_the_context_annotation() -> None:
    async def typed(ctx: Context[Report]) -> None: ...
    async def plain(ctx: Context) -> None: ...  # type: ignore[type-arg]
    async def mapping(ctx: Context[dict[str, Any]]) -> None: ...

    assert payload_type_of(typed) is Report
    assert payload_type_of(plain) is None and payload_type_of(mapping) is None


async def test_a_dataclass_payload_and_result_round_trip() -> None:
    seen: list[Report] = []

    async def handle(ctx: Context[Report]) -> Summary:
        seen.append(ctx.payload)
        return Summary(sent=len(ctx.payload.recipients), at=AT)

    payload = {
        "title": "t",
        "rows": 3,
        "ratio": 2,
        "due": AT.isoformat(),
        "recipients": [{"address": "a@b.c", "channel": "sms"}, {"address": "d@e.f"}],
    }
    result = await run_attempt(handle, payload)
    assert seen == [
        Report(
            "t",
            3,
            [Recipient("a@b.c", Channel.SMS), Recipient("d@e.f")],
            ratio=2.0,
            due=AT,
        )
    ]
    assert to_dict(result.success.result) == {"sent": 2, "at": AT.isoformat()}


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        ({"title": "t"}, "missing field(s) rows"),
        ({"title": "t", "rows": "3"}, "payload.rows: expected int, got str"),
        ({"title": "t", "rows": 1, "extra": 1}, "unexpected field(s) extra"),
        ({"title": "t", "rows": 1, "recipients": [{"address": 1}]}, "recipients[0].address"),
    ],
)
async def test_a_payload_that_does_not_fit_fails_for_good(
    payload: dict[str, Any], complaint: str
) -> None:
    called = False

    async def handle(ctx: Context[Report]) -> None:
        nonlocal called
        called = True

    result = await run_attempt(handle, payload)
    assert not called
    assert not result.failure.retryable
    assert result.failure.error.startswith("payload does not fit Report: ")
    assert complaint in result.failure.error


def test_create_job_takes_a_dataclass_payload() -> None:
    message, _ = job_message({"payload": Report("t", 1, [Recipient("a@b.c")], due=AT)})
    assert to_dict(message.payload) == {
        "title": "t",
        "rows": 1,
        "recipients": [{"address": "a@b.c", "channel": "email"}],
        "ratio": 1.0,
        "due": AT.isoformat(),
    }


def test_a_result_that_is_not_an_object_still_fails_for_good() -> None:
    result = result_of(assignment({}), [1, 2])
    assert not result.failure.retryable


async def test_a_pydantic_payload_and_result_round_trip() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Order(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        sku: str
        quantity: int = pydantic.Field(gt=0)

    class Shipped(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        sku: str
        at: datetime

    async def handle(ctx: Context[Any]) -> Any:
        assert isinstance(ctx.payload, Order)
        return Shipped(sku=ctx.payload.sku, at=AT)

    async def send(_: wpb.ConnectRequest) -> bool:
        return True

    import asyncio

    ok = await Attempt(
        assignment({"sku": "x", "quantity": 2}), handle, send, payload_type=Order
    ).run(asyncio.Semaphore(1))
    assert to_dict(ok.success.result) == {"sku": "x", "at": "2030-05-06T07:08:09Z"}

    bad = await Attempt(
        assignment({"sku": "x", "quantity": 0}), handle, send, payload_type=Order
    ).run(asyncio.Semaphore(1))
    assert not bad.failure.retryable and "quantity" in bad.failure.error
    assert to_dict(struct(Order(sku="y", quantity=1))) == {"sku": "y", "quantity": 1}


def test_the_worker_takes_payload_type_explicitly() -> None:
    worker = Worker(api_key="k")

    @worker.handler("explicit", payload_type=Report)
    async def explicit(ctx: Context[Any]) -> None: ...

    @worker.handler("annotated")
    async def annotated(ctx: Context[Summary]) -> None: ...

    assert worker._handlers["explicit"][1] is Report
    assert worker._handlers["annotated"][1] is Summary


# --- the worker's log lines ----------------------------------------------------------


def test_one_log_line_per_attempt(caplog: pytest.LogCaptureFixture) -> None:
    worker = Worker(api_key="k")
    caplog.set_level(logging.DEBUG, logger="cronstream.worker")
    from cronstream import NonRetryable

    worker._log_result(result_of(assignment({}), {"ok": 1}))
    worker._log_result(result_of(assignment({}), ValueError("boom")))
    worker._log_result(result_of(assignment({}), NonRetryable("bad input")))
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert records == [
        (logging.DEBUG, "cronstream: execution e1 attempt 2 succeeded"),
        (
            logging.WARNING,
            "cronstream: execution e1 attempt 2 failed (retried if retries remain): boom",
        ),
        (logging.ERROR, "cronstream: execution e1 attempt 2 failed (not retryable): bad input"),
    ]
