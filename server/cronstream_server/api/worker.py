"""WorkerService: the worker stream's protobuf edge.

`Connect` reads and checks the hello, opens a session in the replica's
`WorkerHub`, yields the welcome, then serves the session with three
coroutines under one `asyncio.TaskGroup`:

- `_receive`: worker -> session (parsed here, at the edge; a malformed
  message ends the stream with INVALID_ARGUMENT naming the field, but a
  result whose value cannot be stored, too large or too deep to decode, ends
  its execution as a final failure instead: see `salvage_results`);
- `_send`: session -> worker. It writes with `context.write`, exactly what
  grpc does with each message a generator yields, so the whole session runs
  inside the call's own task and a cancelled call unwinds it at once;
- `Session.keep_leases`: the session's own lease bookkeeping.

Whatever way the stream ends, the session is closed and what it still ran
goes back to pending. A stream ended by the server's drain ends UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
from cronstream.v1 import worker_service_pb2 as wpb
from cronstream.v1 import worker_service_pb2_grpc as wpb_grpc
from google.protobuf import duration_pb2

from cronstream_server.api.convert import LOG_LEVEL, Reader
from cronstream_server.api.decoding import Undecodable
from cronstream_server.api.interceptor import current_platform
from cronstream_server.api.worker_wire import (
    Built,
    assignment,
    joined,
    prepared_assignment,
    stamped,
)
from cronstream_server.core.dispatch import Report, Start
from cronstream_server.core.enums import LogLevel
from cronstream_server.core.errors import (
    DomainError,
    FieldViolation,
    InvalidArgument,
    Unauthenticated,
    Unavailable,
)
from cronstream_server.core.executions import ExecutionLog
from cronstream_server.core.validation import check_name, raise_if_any
from cronstream_server.engine.session import (
    Ack,
    Cancel,
    Drain,
    End,
    Hello,
    Outgoing,
    Prepared,
    Session,
    Welcome,
)
from cronstream_server.engine.workers import WorkerHub
from cronstream_server.telemetry.logs import context_with_ids

log = logging.getLogger(__name__)

# Responses may be encodings made ahead (api.worker_wire), which the stream's
# serializer passes through.
Context = grpc.aio.ServicerContext[wpb.ConnectRequest, wpb.ConnectResponse | bytes]
# A message that does not decode arrives as an `Undecodable` (see api.interceptor).
Requests = AsyncIterator[wpb.ConnectRequest | Undecodable]

MAX_SLOTS = 10_000
MAX_HANDLERS = 1_000
MAX_TEXT = 64 * 1024
# Most items in one batched message, either way (see WorkerHello.accepts_batches).
MAX_BATCH = 500


class WorkerServicer(wpb_grpc.WorkerServiceServicer):
    def __init__(self, hub: WorkerHub, max_result_bytes: int) -> None:
        self._hub = hub
        self._max_result_bytes = max_result_bytes

    async def Connect(
        self, requests: Requests, context: Context
    ) -> AsyncIterator[wpb.ConnectResponse]:
        principal = current_platform()
        hello = parse_hello(await anext(requests, None))
        session = await self._hub.open(
            principal.platform_id, hello, prepared_assignment, key_id=principal.key_id
        )
        connection = Connection(self._hub, session, requests, context, self._max_result_bytes)
        try:
            welcome = await session.outgoing()
            assert isinstance(welcome, Welcome)
            yield response(welcome)
            await connection.serve()
        except BaseException as error:
            session.explain_end(_why(error))
            raise
        finally:
            await self._hub.close(session)
        if session.end is End.DRAINED:
            raise Unavailable("the server is shutting down; reconnect")
        if session.end is End.REVOKED:
            raise Unauthenticated("the API key of this stream was revoked")


class Connection:
    def __init__(
        self,
        hub: WorkerHub,
        session: Session,
        requests: Requests,
        context: Context,
        max_result_bytes: int,
    ) -> None:
        self._hub = hub
        self._session = session
        self._requests = requests
        self._context = context
        self._max_result_bytes = max_result_bytes

    async def serve(self) -> None:
        # Every line logged by the session's tasks names its platform and worker.
        ids = context_with_ids(
            platform_id=self._session.platform_id, worker_id=self._session.worker_id
        )
        try:
            async with asyncio.TaskGroup() as group:
                receiving = group.create_task(self._receive(), context=ids)
                group.create_task(self._send(receiving), context=ids)
                group.create_task(self._session.keep_leases(), context=ids)
        except BaseExceptionGroup as group:
            raise _first_domain_error(group) from None

    async def _receive(self) -> None:
        async for request in self._requests:
            await self._handle(request)
        self._session.close(End.WORKER_LEFT, "the worker closed the stream")

    async def _send(self, receiving: asyncio.Task[None]) -> None:
        batches = self._session.accepts_batches
        holds = self._session.holds_until_start
        limit = MAX_BATCH if batches else 1
        while ready := await self._session.outgoing_ready(limit):
            try:
                for message in responses(ready, batches=batches, holds=holds):
                    if holds:  # stamped as late as can be: the worker times from it
                        message = stamped(message, self._hub.dispatcher.database_now())
                    await self._context.write(message)
                self._session.sent(ready)
            except Exception as error:  # the call ended under us
                log.debug("worker stream %s: write failed: %r", self._session.id, error)
                self._session.close(End.WORKER_LEFT, "the stream broke: a write to it failed")
                break
        receiving.cancel()

    async def _handle(self, request: wpb.ConnectRequest | Undecodable) -> None:
        session = self._session
        session.seen()
        if isinstance(request, Undecodable):
            salvaged = salvage_results(request, session.platform_id, self._max_result_bytes)
            for report, size in salvaged:
                await self._hub.result(session, report, size)
            return
        kind = request.WhichOneof("msg")
        if kind == "result":
            report = parse_result(request.result, session.platform_id, self._max_result_bytes)
            await self._hub.result(session, report, request.result.ByteSize())
        elif kind == "results":
            reports = parse_results(request.results, session.platform_id, self._max_result_bytes)
            for report, sent in zip(reports, request.results.results, strict=True):
                await self._hub.result(session, report, sent.ByteSize())
        elif kind == "log":
            await self._hub.log(session, parse_log(request.log, session))
        elif kind == "heartbeat":
            await self._hub.heartbeat(session, list(request.heartbeat.execution_ids))
        elif kind == "capacity":
            session.set_capacity(_slots("capacity.slots", request.capacity.slots))
        elif kind == "hello":
            raise InvalidArgument.of("hello", "is only allowed as the first message")
        else:  # from a newer contract: ignored, not fatal
            log.debug("worker stream %s: ignoring an empty or unknown message", session.id)


def _why(error: BaseException) -> str:
    """Why a stream ended, for the log, from what ended its call."""
    if isinstance(error, asyncio.CancelledError):
        # A worker's cancel and a broken connection look the same from here.
        return "the call was cancelled by the worker, or its connection broke"
    if isinstance(error, DomainError):
        return f"the stream was refused: {error.message}"
    if isinstance(error, GeneratorExit):
        return "the call ended"
    return f"error: {error!r}"


def _first_domain_error(group: BaseExceptionGroup[Any]) -> BaseException:
    """A domain error from the session's tasks, for the interceptor to translate."""
    found: BaseException | None = group.subgroup(DomainError)
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0]
    return found if found is not None else group


# --- worker -> server -----------------------------------------------------------


def parse_hello(request: wpb.ConnectRequest | Undecodable | None) -> Hello:
    if isinstance(request, Undecodable):
        raise request.error()
    if request is None or request.WhichOneof("msg") != "hello":
        raise InvalidArgument.of("hello", "the first message must be hello")
    hello = request.hello
    reader = Reader()
    check_name(reader.violations, "hello.worker_id", hello.worker_id)
    if not hello.handler_names:
        reader.bad("hello.handler_names", "at least one handler name is required")
    elif len(hello.handler_names) > MAX_HANDLERS:
        reader.bad("hello.handler_names", f"at most {MAX_HANDLERS} handler names")
    for index, name in enumerate(hello.handler_names[:MAX_HANDLERS]):
        check_name(reader.violations, f"hello.handler_names[{index}]", name)
    if not 0 <= hello.slots <= MAX_SLOTS:
        reader.bad("hello.slots", f"must be 0 to {MAX_SLOTS}")
    for index, running in enumerate(hello.running):
        if not running.execution_id:
            reader.bad(f"hello.running[{index}].execution_id", "is required")
        if running.attempt < 1:
            reader.bad(f"hello.running[{index}].attempt", "must be 1 or more")
    raise_if_any(reader.violations)
    return Hello(
        worker_id=hello.worker_id,
        handler_names=frozenset(hello.handler_names),
        slots=hello.slots,
        running=tuple((r.execution_id, r.attempt) for r in hello.running),
        accepts_batches=hello.accepts_batches,
        holds_until_start=hello.holds_until_start,
    )


def _slots(field: str, slots: int) -> int:
    if not 0 <= slots <= MAX_SLOTS:
        raise InvalidArgument.of(field, f"must be 0 to {MAX_SLOTS}")
    return slots


def parse_results(results: wpb.WorkerResults, platform_id: str, max_bytes: int) -> list[Report]:
    """A batch is checked whole before any of it is applied."""
    _check_batch(len(results.results))
    return [
        parse_result(result, platform_id, max_bytes, field=f"results.results[{index}]")
        for index, result in enumerate(results.results)
    ]


def _check_batch(count: int) -> None:
    if not 1 <= count <= MAX_BATCH:
        raise InvalidArgument.of("results.results", f"must hold 1 to {MAX_BATCH} results")


def parse_result(
    result: wpb.WorkerResult, platform_id: str, max_bytes: int, field: str = "result"
) -> Report:
    names = _names(result, platform_id, field)
    if result.WhichOneof("outcome") == "failure":
        failure = result.failure
        retryable = failure.retryable if failure.HasField("retryable") else True
        error, stack = _text(failure.error) or "failed", _text(failure.error_stack)
        return Report(*names, succeeded=False, error=error, error_stack=stack, retryable=retryable)
    reader = Reader()
    value = reader.struct(f"{field}.success.result", result.success.result, max_bytes)
    if reader.violations:
        return _rejected(names, reader.violations[0])
    return Report(*names, succeeded=True, result=value)


def salvage_results(
    undecodable: Undecodable, platform_id: str, max_bytes: int
) -> list[tuple[Report, int]]:
    """The results of a `result` or `results` message that did not decode
    only because of result values, each with its size in bytes. Each such
    value (nested too deep to decode, as a JSON value can be) ends its attempt
    as a final failure that says why; the other results are parsed as usual.
    Anything else that does not decode ends the stream."""
    partial: Any = undecodable.partial  # the message's shallow twin
    kind = partial.WhichOneof("msg") if partial is not None else None
    if kind == "result":
        sent = [("result", partial.result)]
    elif kind == "results":
        _check_batch(len(partial.results.results))
        sent = [(f"results.results[{i}]", r) for i, r in enumerate(partial.results.results)]
    else:
        raise undecodable.error()
    rejected = {v.field: v for v in undecodable.violations}
    if not rejected.keys() <= {f"{field}.success.result" for field, _ in sent}:
        raise undecodable.error()
    reports = [_salvaged(item, field, rejected, platform_id, max_bytes) for field, item in sent]
    return [(report, item.ByteSize()) for report, (_, item) in zip(reports, sent, strict=True)]


def _salvaged(
    shallow: Any, field: str, rejected: dict[str, FieldViolation], platform_id: str, max_bytes: int
) -> Report:
    problem = rejected.get(f"{field}.success.result")
    if problem is not None:
        return _rejected(_names(shallow, platform_id, field), problem)
    # Its own value decodes: the shallow twin and the real message share a wire format.
    result = wpb.WorkerResult.FromString(shallow.SerializeToString())
    return parse_result(result, platform_id, max_bytes, field)


def _names(result: Any, platform_id: str, field: str) -> tuple[str, str, int]:
    """Whose attempt a result reports (`result` may be a shallow twin)."""
    reader = Reader()
    if not result.execution_id:
        reader.bad(f"{field}.execution_id", "is required")
    if result.attempt < 1:
        reader.bad(f"{field}.attempt", "must be the attempt of the assignment (1 or more)")
    if result.WhichOneof("outcome") is None:
        reader.bad(f"{field}.outcome", "success or failure is required")
    raise_if_any(reader.violations)
    return platform_id, result.execution_id, result.attempt


def _rejected(names: tuple[str, str, int], problem: FieldViolation) -> Report:
    # The attempt ran, but its value cannot be stored: a final failure that
    # says why, rather than a stream the worker would resend it on forever.
    error = f"result rejected: {problem.field} {problem.description}"
    return Report(*names, succeeded=False, error=error, retryable=False)


def parse_log(line: wpb.WorkerLog, session: Session) -> ExecutionLog:
    level = next((lv for lv, number in LOG_LEVEL.items() if number == line.level), LogLevel.INFO)
    reader = Reader()
    at = reader.time("log.time", line.time) if line.HasField("time") else None
    return ExecutionLog(
        execution_id=line.execution_id,
        time=at or datetime.now(UTC),
        level=level,
        message=_text(line.message),
        attempt=line.attempt or session.attempt_of(line.execution_id) or 1,
    )


def _text(value: str) -> str:
    """At most 64 KiB, and no NUL (which Postgres text cannot hold)."""
    return value[:MAX_TEXT].replace("\x00", "\ufffd")


# --- server -> worker -------------------------------------------------------


def responses(
    ready: list[Outgoing], *, batches: bool, holds: bool = False
) -> list[wpb.ConnectResponse | bytes]:
    """The messages for what is ready to send, in order: for a worker that
    accepts batches, each run of assignments (or of acks) is one message, of
    at most BATCH_BYTES of assignments; for one that holds assignments until
    their start, a lone assignment too (its start is read from `assignments`)."""
    if not batches:
        return [response(message) for message in ready]
    out: list[wpb.ConnectResponse | bytes] = []
    index = 0
    while index < len(ready):
        kind = _kind(ready[index])
        end, size = index + 1, _size(ready[index])
        while end < len(ready) and _kind(ready[end]) is kind and kind in (Start, Ack):
            size += _size(ready[end])
            if size > BATCH_BYTES:
                break
            end += 1
        out.append(_grouped(ready[index:end], holds))
        index = end
    return out


# The most bytes of assignments grouped in one message: far below the
# smallest message limit (1 MiB, which any single assignment fits in), and
# plenty to share a message's cost among many small ones.
BATCH_BYTES = 512 * 1024


def _size(message: Outgoing) -> int:
    return message.size if isinstance(message, Prepared) else 0


def _kind(message: Outgoing) -> type:
    """An assignment built ahead groups with those built now."""
    return Start if isinstance(message, Prepared) else type(message)


def _assignment(message: Start | Prepared) -> wpb.Assignment:
    if isinstance(message, Prepared):
        built: Built = message.message
        return built.message
    return assignment(message)


def _grouped(run: list[Outgoing], holds: bool) -> wpb.ConnectResponse | bytes:
    """One message for a run of same-kind messages (a single one goes as is,
    but for an assignment to a worker that holds it)."""
    kind = _kind(run[0])
    if len(run) == 1 and not (holds and kind is Start):
        return response(run[0])
    if kind is Start:
        prepared = [m.message for m in run if isinstance(m, Prepared)]
        if len(prepared) == len(run):  # all encoded when claimed: joined as they are
            return joined(prepared)
        starts = [_assignment(m) for m in run if isinstance(m, Start | Prepared)]
        return wpb.ConnectResponse(assignments=wpb.Assignments(assignments=starts))
    acks = [wpb.ResultAck(execution_id=m.execution_id) for m in run if isinstance(m, Ack)]
    return wpb.ConnectResponse(result_acks=wpb.ResultAcks(acks=acks))


def response(message: Outgoing) -> wpb.ConnectResponse:
    match message:
        case Start() | Prepared():
            return wpb.ConnectResponse(assignment=_assignment(message))
        case Welcome():
            return wpb.ConnectResponse(
                welcome=wpb.Welcome(
                    session_id=message.session_id,
                    heartbeat_interval=_duration(message.heartbeat_interval.total_seconds()),
                    lease_duration=_duration(message.lease_duration.total_seconds()),
                    accepts_batches=True,
                )
            )
        case Cancel():
            cancel = wpb.CancelAssignment(execution_id=message.execution_id, reason=message.reason)
            return wpb.ConnectResponse(cancel=cancel)
        case Ack():
            return wpb.ConnectResponse(result_ack=wpb.ResultAck(execution_id=message.execution_id))
        case Drain():
            return wpb.ConnectResponse(drain=wpb.Drain())
    raise AssertionError(f"unknown outgoing message {message!r}")


def _duration(seconds: float) -> duration_pb2.Duration:
    message = duration_pb2.Duration()
    message.FromNanoseconds(int(seconds * 1e9))
    return message
