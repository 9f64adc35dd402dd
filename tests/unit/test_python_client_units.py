"""The Python client's pure parts: backoff bounds, error decoding from real
gRPC statuses, value conversion, the ledger and the attempt's result."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta, timezone

import grpc
import pytest
from cronstream import (
    AlreadyExistsError,
    Backoff,
    CronstreamError,
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    NonRetryable,
    NotFoundError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
)
from cronstream._attempt import AttemptCancelled, result_of
from cronstream._build import job_message
from cronstream._convert import struct, timestamp, to_dict
from cronstream._ledger import RESULT_RETENTION, Ledger
from cronstream._session import Session, heartbeat_interval, result_message
from cronstream.context import truncate_utf8
from cronstream.errors import from_rpc_error
from cronstream.v1 import job_pb2
from cronstream.v1 import worker_service_pb2 as wpb
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

# --- backoff ------------------------------------------------------------------


def test_backoff_ceiling_doubles_from_100_ms_to_5_s() -> None:
    backoff = Backoff()
    ceilings = [backoff.ceiling(n) for n in range(10)]
    assert ceilings == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5, 5, 5, 5])
    assert backoff.ceiling(-3) == pytest.approx(0.1)
    assert backoff.ceiling(10_000) == 5  # no overflow, however long the outage


def test_backoff_delay_is_full_jitter_within_the_ceiling() -> None:
    backoff = Backoff()
    rng = random.Random(7)
    for attempt in range(12):
        delays = [backoff.delay(attempt, rng.uniform) for _ in range(300)]
        ceiling = backoff.ceiling(attempt)
        assert all(0 <= d <= ceiling for d in delays)
        assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9  # the whole range
    assert backoff.delay(3, lambda low, high: high) == pytest.approx(0.8)
    assert Backoff(base=0, cap=0).delay(5) == 0


# --- errors, decoded from statuses built as the server builds them --------------


def rpc_error(status: status_pb2.Status) -> grpc.aio.AioRpcError:
    """The error a grpc.aio call raises for `status` with its details."""
    built = rpc_status.to_status(status)
    return grpc.aio.AioRpcError(
        code=built.code,
        initial_metadata=grpc.aio.Metadata(),
        trailing_metadata=grpc.aio.Metadata(*built.trailing_metadata),
        details=built.details,
    )


def bad_request(*violations: tuple[str, str]) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                for f, d in violations
            ]
        )
    )
    return packed


def test_invalid_argument_carries_every_field_violation() -> None:
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message="invalid request",
        details=[
            bad_request(("job.cron.expression", "expected 5 fields"), ("job.name", "required")),
            bad_request(("job.timeout", "must be positive")),
        ],
    )
    error = from_rpc_error(rpc_error(status))
    assert isinstance(error, InvalidArgumentError) and isinstance(error, CronstreamError)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.message == "invalid request"
    assert error.violations == [
        FieldViolation("job.cron.expression", "expected 5 fields"),
        FieldViolation("job.name", "required"),
        FieldViolation("job.timeout", "must be positive"),
    ]
    assert str(error).startswith("INVALID_ARGUMENT: job.cron.expression: expected 5 fields; ")


def test_invalid_argument_without_details_has_no_violations() -> None:
    plain = grpc.aio.AioRpcError(
        grpc.StatusCode.INVALID_ARGUMENT, grpc.aio.Metadata(), grpc.aio.Metadata(), "bad token"
    )
    error = from_rpc_error(plain)
    assert isinstance(error, InvalidArgumentError) and error.violations == []
    assert str(error) == "INVALID_ARGUMENT: bad token"
    other_detail = any_pb2.Any()
    other_detail.Pack(duration_pb2.Duration(seconds=1))
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="m", details=[other_detail])
    error = from_rpc_error(rpc_error(status))
    assert isinstance(error, InvalidArgumentError) and error.violations == []


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (code_pb2.NOT_FOUND, NotFoundError),
        (code_pb2.UNAUTHENTICATED, UnauthenticatedError),
        (code_pb2.FAILED_PRECONDITION, FailedPreconditionError),
        (code_pb2.ALREADY_EXISTS, AlreadyExistsError),
        (code_pb2.UNAVAILABLE, UnavailableError),
        (code_pb2.UNIMPLEMENTED, UnimplementedError),
    ],
)
def test_each_code_has_its_type(code: int, kind: type[CronstreamError]) -> None:
    error = from_rpc_error(rpc_error(status_pb2.Status(code=code, message="why")))
    assert type(error) is kind
    assert error.code.value[0] == code and error.message == "why"
    assert str(error) == f"{error.code.name}: why"


def test_other_codes_are_the_base_type_with_their_code() -> None:
    error = from_rpc_error(rpc_error(status_pb2.Status(code=code_pb2.INTERNAL, message="boom")))
    assert type(error) is CronstreamError and error.code == grpc.StatusCode.INTERNAL


def test_a_status_detail_that_disagrees_with_the_call_is_ignored() -> None:
    built = rpc_status.to_status(
        status_pb2.Status(code=code_pb2.NOT_FOUND, message="x", details=[bad_request(("a", "b"))])
    )
    error = from_rpc_error(
        grpc.aio.AioRpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(*built.trailing_metadata),
            "y",
        )
    )
    assert isinstance(error, InvalidArgumentError) and error.violations == []


# --- conversions and builders ----------------------------------------------------


def test_struct_round_trip_reads_like_json() -> None:
    value = {"n": 1, "f": 1.5, "big": 2**60, "list": [1, "two", None, True], "o": {"k": -3}}
    back = to_dict(struct(value))
    assert back == {**value, "big": float(2**60)}
    assert type(back["n"]) is int and type(back["list"][0]) is int
    assert to_dict(struct(None)) == {}
    with pytest.raises(TypeError, match="must be a dict"):
        struct([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not JSON"):
        struct({"s": {1, 2}})


def test_timestamps_must_be_aware() -> None:
    berlin = timezone(timedelta(hours=2))
    stamp = timestamp(datetime(2030, 6, 1, 12, tzinfo=berlin))
    assert stamp.ToDatetime(tzinfo=UTC) == datetime(2030, 6, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        timestamp(datetime(2030, 6, 1))


def test_job_message_names_the_mask_paths() -> None:
    job, paths = job_message(
        {"name": "n", "handler": "h", "cron": "* * * * *", "priority": "HIGH", "max_retries": 0}
    )
    assert sorted(paths) == ["cron", "handler_name", "max_retries", "name", "priority"]
    assert job.priority == job_pb2.PRIORITY_HIGH and job.HasField("max_retries")
    job, paths = job_message({"every": timedelta(minutes=1), "max_runs": 3})
    assert paths == ["interval"] and job.interval.every.seconds == 60
    _, paths = job_message({"overlap_policy": job_pb2.OVERLAP_POLICY_SKIP})
    assert paths == ["overlap_policy"]
    with pytest.raises(ValueError, match="one trigger"):
        job_message({"once": datetime.now(UTC), "every": timedelta(1)})


def test_log_lines_are_cut_on_a_character_boundary() -> None:
    assert truncate_utf8("abc", 10) == "abc"
    assert truncate_utf8("a🚀b", 3) == "a"
    assert truncate_utf8("a🚀b", 5) == "a🚀"


def test_heartbeat_interval_from_the_welcome() -> None:
    def welcome(heartbeat: float | None = None, lease: float | None = None) -> wpb.Welcome:
        w = wpb.Welcome()
        if heartbeat is not None:
            w.heartbeat_interval.FromTimedelta(timedelta(seconds=heartbeat))
        if lease is not None:
            w.lease_duration.FromTimedelta(timedelta(seconds=lease))
        return w

    assert heartbeat_interval(welcome(5, 30)) == 5
    assert heartbeat_interval(welcome(lease=30)) == 10
    assert heartbeat_interval(welcome()) == 10
    assert heartbeat_interval(welcome(0.000001)) == 0.01


# --- what an attempt reports ----------------------------------------------------------

ASSIGNMENT = wpb.Assignment(execution_id="e1", attempt=3, handler_name="h")


def test_a_returned_dict_is_a_success() -> None:
    result = result_of(ASSIGNMENT, {"ok": True, "n": 2})
    assert (result.execution_id, result.attempt) == ("e1", 3)
    assert to_dict(result.success.result) == {"ok": True, "n": 2}
    assert result_of(ASSIGNMENT, None).HasField("success")


def raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def test_failures_carry_the_error_stack_and_retryability() -> None:
    failure = result_of(ASSIGNMENT, raised(ValueError("no such recipient"))).failure
    assert failure.error == "no such recipient" and failure.retryable
    assert "Traceback" in failure.error_stack and "ValueError" in failure.error_stack
    final = result_of(ASSIGNMENT, raised(NonRetryable("bad input"))).failure
    assert final.error == "bad input" and final.HasField("retryable") and not final.retryable
    assert result_of(ASSIGNMENT, raised(KeyError())).failure.error == "KeyError"
    cancelled = result_of(ASSIGNMENT, AttemptCancelled("timeout")).failure
    assert (cancelled.error, cancelled.retryable, cancelled.error_stack) == (
        "cancelled: timeout",
        True,
        "",
    )


def test_a_result_that_is_not_a_json_object_fails_for_good() -> None:
    failure = result_of(ASSIGNMENT, ["not", "an", "object"]).failure  # type: ignore[arg-type]
    assert not failure.retryable and "must be a dict" in failure.error
    assert not result_of(ASSIGNMENT, {"x": float("inf")}).failure.retryable


# --- the ledger -----------------------------------------------------------------------


def result(execution_id: str, attempt: int) -> wpb.WorkerResult:
    return wpb.WorkerResult(execution_id=execution_id, attempt=attempt)


async def test_ledger_tracks_attempts_until_acknowledged() -> None:
    now = [0.0]
    ledger = Ledger(clock=lambda: now[0])
    cancelled: list[str] = []
    assert ledger.begin("a", 1, cancelled.append) and ledger.begin("b", 1, cancelled.append)
    assert not ledger.begin("a", 1, cancelled.append)  # repeated assignment
    assert ledger.running_ids() == ["a", "b"] and not ledger.idle()

    assert ledger.finish(result("a", 1))
    assert ledger.counts() == (1, 1)
    held = {(r.execution_id, r.attempt) for r in ledger.held()}
    assert held == {("a", 1), ("b", 1)}
    assert [r.execution_id for r in ledger.unacked()] == ["a"]

    assert ledger.cancel("b", "timeout") and cancelled == ["timeout"]
    assert not ledger.cancel("zzz", "timeout")
    assert ledger.begin("b", 2, cancelled.append)  # a newer attempt supersedes
    assert cancelled == ["timeout", "superseded by a newer attempt"]
    assert not ledger.finish(result("b", 1))  # the old attempt's result is dropped
    assert ledger.finish(result("b", 2))

    idle = asyncio.create_task(ledger.wait_idle())
    ledger.ack("a")
    await asyncio.sleep(0)
    assert not idle.done()
    ledger.ack("b")
    await asyncio.wait_for(idle, 1)
    assert ledger.idle()

    assert ledger.begin("c", 1, cancelled.append) and ledger.finish(result("c", 1))
    now[0] += RESULT_RETENTION + 1
    assert ledger.unacked() == [] and ledger.idle()  # long fenced: forgotten


# --- batched results ----------------------------------------------------------


def writer_of(ledger: Ledger, linger: float = 1.0) -> Session:
    """A session whose writer is driven by hand: no stream, no loops."""
    return Session(call=None, ledger=ledger, start=lambda _: None, log=None, linger=linger)  # type: ignore[arg-type]


def queued_result(execution_id: str) -> wpb.ConnectRequest:
    return result_message(wpb.WorkerResult(execution_id=execution_id, attempt=1))


def batched_ids(message: wpb.ConnectRequest) -> list[str]:
    if message.WhichOneof("msg") == "result":
        return [message.result.execution_id]
    return [r.execution_id for r in message.results.results]


async def test_results_queued_back_to_back_go_as_one_message_in_order() -> None:
    session = writer_of(Ledger())
    heartbeat = wpb.ConnectRequest(heartbeat=wpb.WorkerHeartbeat(execution_ids=["x"]))
    for message in (queued_result("r2"), queued_result("r3"), heartbeat, queued_result("r4")):
        session.send_nowait(message)

    batched, carried = await session._with_queued_results(queued_result("r1"))
    assert [r.execution_id for r in batched.results.results] == ["r1", "r2", "r3"]
    assert carried is heartbeat
    assert session._queue.get_nowait().result.execution_id == "r4"
    single, nothing = await session._with_queued_results(queued_result("r5"))
    assert single.WhichOneof("msg") == "result" and nothing is None


async def test_a_result_waits_briefly_for_others_while_more_attempts_run() -> None:
    ledger = Ledger()
    assert ledger.begin("r2", 1, lambda _: None)
    session = writer_of(ledger, linger=1.0)

    async def finish_r2() -> None:
        await asyncio.sleep(0.02)  # r2 finishes after r1 went to the writer
        assert ledger.finish(wpb.WorkerResult(execution_id="r2", attempt=1))  # ledger, then queue
        session.send_nowait(queued_result("r2"))

    finisher = asyncio.create_task(finish_r2())
    began = asyncio.get_running_loop().time()
    batched, carried = await session._with_queued_results(queued_result("r1"))
    waited = asyncio.get_running_loop().time() - began

    assert batched_ids(batched) == ["r1", "r2"] and carried is None  # one message for both
    assert waited < 0.5, f"waited {waited:.3f} s: with r2 in nothing runs, so no more linger"
    await finisher


async def test_the_linger_is_bounded_when_no_result_comes() -> None:
    ledger = Ledger()
    assert ledger.begin("r2", 1, lambda _: None)  # runs on, past the linger
    session = writer_of(ledger, linger=0.05)

    began = asyncio.get_running_loop().time()
    batched, _ = await session._with_queued_results(queued_result("r1"))
    waited = asyncio.get_running_loop().time() - began

    assert batched_ids(batched) == ["r1"]
    assert 0.04 <= waited < 1.0, f"waited {waited:.3f} s, want about 0.05"


async def test_a_last_result_leaves_at_once() -> None:
    session = writer_of(Ledger(), linger=1.0)

    began = asyncio.get_running_loop().time()
    batched, _ = await session._with_queued_results(queued_result("r1"))
    waited = asyncio.get_running_loop().time() - began

    assert batched.WhichOneof("msg") == "result"
    assert waited < 0.1, f"waited {waited:.3f} s with nothing else running, want no linger"


async def test_the_writer_sends_results_finishing_within_the_linger_as_one_message() -> None:
    """Through `_send`: what a busy worker's stream carries."""
    ledger = Ledger()
    for execution_id in ("r1", "r2", "r3"):
        assert ledger.begin(execution_id, 1, lambda _: None)
    written: list[wpb.ConnectRequest] = []
    wrote = asyncio.Event()

    class Call:
        async def write(self, message: wpb.ConnectRequest) -> None:
            written.append(message)
            wrote.set()

    session = Session(call=Call(), ledger=ledger, start=lambda _: None, log=None, linger=1.0)  # type: ignore[arg-type]
    session.batches = True
    writer = asyncio.create_task(session._send())
    for execution_id in ("r1", "r2", "r3"):
        assert ledger.finish(wpb.WorkerResult(execution_id=execution_id, attempt=1))
        session.send_nowait(queued_result(execution_id))
        await asyncio.sleep(0.01)  # handlers finishing one by one
    await asyncio.wait_for(wrote.wait(), 2)
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    assert [batched_ids(m) for m in written] == [["r1", "r2", "r3"]]
