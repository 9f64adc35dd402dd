"""The Python `Worker`.

Two halves:
- the protocol, against an in-process fake of the WorkerService that plays the
  server's side message by message (runs everywhere, always);
- end to end, against the live server on SQLite and Postgres.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from cronstream import (
    Backoff,
    Client,
    Context,
    GracePeriodExceededError,
    NonRetryable,
    UnauthenticatedError,
    UnimplementedError,
    Worker,
)
from cronstream._convert import to_dict
from cronstream.v1 import execution_pb2, worker_service_pb2_grpc
from cronstream.v1 import worker_service_pb2 as wpb
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import Live, Tenant

# --- a fake WorkerService ---------------------------------------------------------

KEY = "cs_fake_key"
WAIT = 5.0


class FakeSession:
    """One worker stream, seen from the server."""

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.context = context
        self.received: asyncio.Queue[wpb.ConnectRequest] = asyncio.Queue()
        self.ending: asyncio.Future[tuple[grpc.StatusCode | None, str]] = (
            asyncio.get_running_loop().create_future()
        )
        self.closed_by_worker = asyncio.Event()

    async def recv(self, kind: str, *, skip: tuple[str, ...] = ("heartbeat",)) -> Any:
        """The next message of `kind` (skipping `skip` kinds), or fails."""
        async with asyncio.timeout(WAIT):
            while True:
                message = await self.received.get()
                got = message.WhichOneof("msg")
                if got != kind and got in skip:
                    continue
                assert got == kind, f"expected {kind}, got {message}"
                return getattr(message, kind)

    async def nothing_but_heartbeats(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        while not self.received.empty():
            message = self.received.get_nowait()
            assert message.WhichOneof("msg") == "heartbeat", f"unexpected {message}"

    async def send(self, **message: Any) -> None:
        await self.context.write(wpb.ConnectResponse(**message))

    async def welcome(self, heartbeat: float = 10.0) -> wpb.WorkerHello:
        hello: wpb.WorkerHello = await self.recv("hello")
        welcome = wpb.Welcome(session_id="s-1")
        welcome.heartbeat_interval.FromTimedelta(timedelta(seconds=heartbeat))
        welcome.lease_duration.FromTimedelta(timedelta(seconds=heartbeat * 3))
        await self.send(welcome=welcome)
        return hello

    async def assign(self, execution_id: str, handler: str = "work", **fields: Any) -> None:
        payload = fields.pop("payload", None)
        assignment = wpb.Assignment(
            execution_id=execution_id, handler_name=handler, attempt=1, **fields
        )
        if payload is not None:
            assignment.payload.update(payload)
        await self.send(assignment=assignment)

    def end(self, code: grpc.StatusCode | None = None, details: str = "") -> None:
        if not self.ending.done():
            self.ending.set_result((code, details))


class FakeWorkers(worker_service_pb2_grpc.WorkerServiceServicer):
    def __init__(self) -> None:
        self.sessions: asyncio.Queue[FakeSession] = asyncio.Queue()
        self.authorizations: list[str] = []
        self.refuse_with: grpc.StatusCode | None = None
        self.address = ""

    async def next_session(self) -> FakeSession:
        async with asyncio.timeout(WAIT):
            return await self.sessions.get()

    async def Connect(self, request_iterator: Any, context: Any) -> None:
        metadata = dict(context.invocation_metadata())
        self.authorizations.append(metadata.get("authorization", ""))
        if metadata.get("authorization") != f"Bearer {KEY}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown API key")
        if self.refuse_with is not None:
            await context.abort(self.refuse_with, "refused")
        session = FakeSession(context)
        reader = asyncio.create_task(self._read(context, session))
        await self.sessions.put(session)
        try:
            code, details = await session.ending
        except asyncio.CancelledError:
            session.closed_by_worker.set()
            raise
        finally:
            reader.cancel()
        if code is not None:
            await context.abort(code, details)

    async def _read(self, context: Any, session: FakeSession) -> None:
        try:
            while (message := await context.read()) is not grpc.aio.EOF:
                await session.received.put(message)
        finally:
            session.closed_by_worker.set()


@asynccontextmanager
async def fake_server() -> AsyncIterator[FakeWorkers]:
    server = grpc.aio.server()
    fake = FakeWorkers()
    worker_service_pb2_grpc.add_WorkerServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    fake.address = f"127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await server.stop(0)


def fake_worker(fake: FakeWorkers, **options: Any) -> Worker:
    options.setdefault("worker_id", "w-1")
    options.setdefault("backoff", Backoff(base=0.01, cap=0.05))
    options.setdefault("grace_period", WAIT)
    return Worker(api_key=options.pop("api_key", KEY), target=fake.address, **options)


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    """Runs the worker for the block; stops it (or cancels it) after."""
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        if not task.done():
            worker.stop()
            done, _ = await asyncio.wait({task}, timeout=WAIT)
            if not done:
                task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def eventually(check: Callable[[], bool]) -> None:
    """Polls `check` (state inside the worker, which no event announces)."""
    for _ in range(int(WAIT / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


# --- the protocol, against the fake -------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeWorkers]:
    async with fake_server() as server:
        yield server


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_runs_an_assignment_and_reports_its_result(fake: FakeWorkers) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    worker = fake_worker(fake, slots=3, tracer_provider=provider)
    seen: list[Context] = []

    @worker.handler("work")
    async def work(ctx: Context) -> dict[str, Any]:
        seen.append(ctx)
        assert await ctx.log("hello from python", level="warn")
        return {"ok": True, "got": ctx.payload["n"] + 1}

    @worker.handler("other")
    async def other(ctx: Context) -> None:
        return None

    async with running(worker):
        session = await fake.next_session()
        hello = await session.welcome()
        assert (hello.worker_id, list(hello.handler_names), hello.slots) == (
            "w-1",
            ["other", "work"],
            3,
        )
        assert list(hello.running) == []
        await session.assign(
            "e1", payload={"n": 41}, job_id="j1", traceparent=TRACEPARENT, tracestate="k=v"
        )
        log = await session.recv("log")
        assert (log.execution_id, log.message, log.level, log.attempt) == (
            "e1",
            "hello from python",
            execution_pb2.LOG_LEVEL_WARN,
            1,
        )
        result = await session.recv("result")
        assert (result.execution_id, result.attempt) == ("e1", 1)
        assert to_dict(result.success.result) == {"ok": True, "got": 42}
        await session.send(result_ack=wpb.ResultAck(execution_id="e1"))

    ctx = seen[0]
    assert (ctx.execution_id, ctx.job_id, ctx.handler_name, ctx.attempt) == ("e1", "j1", "work", 1)
    assert ctx.payload == {"n": 41} and type(ctx.payload["n"]) is int
    assert ctx.deadline is None and not ctx.cancelled.is_set()
    assert fake.authorizations == [f"Bearer {KEY}"]
    (span,) = exporter.get_finished_spans()
    assert span.name == "process work" and span.kind is trace.SpanKind.CONSUMER
    assert span.context is not None and span.parent is not None
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    assert dict(span.attributes or {}) == {
        "messaging.system": "cronstream",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": "work",
        "messaging.message.id": "e1",
        "cronstream.job.id": "j1",
        "cronstream.execution.attempt": 1,
    }


async def test_reports_failures_retryable_or_not(fake: FakeWorkers) -> None:
    worker = fake_worker(fake)

    @worker.handler("work")
    async def work(ctx: Context) -> Any:
        kind = ctx.payload["kind"]
        if kind == "error":
            raise RuntimeError("the mail server is down")
        if kind == "final":
            raise NonRetryable("no such recipient")
        return "not an object"

    async with running(worker):
        session = await fake.next_session()
        await session.welcome()
        failures = {}
        for kind in ("error", "final", "bad-result"):
            await session.assign(kind, payload={"kind": kind})
            result = await session.recv("result")
            failures[result.execution_id] = result.failure
            await session.send(result_ack=wpb.ResultAck(execution_id=kind))

    assert failures["error"].error == "the mail server is down" and failures["error"].retryable
    assert (
        "RuntimeError" in failures["error"].error_stack
        and "in work" in failures["error"].error_stack
    )
    assert failures["final"].error == "no such recipient" and not failures["final"].retryable
    assert "must be a dict" in failures["bad-result"].error and not failures["bad-result"].retryable


async def test_cancels_the_handler_on_request_and_at_the_deadline(fake: FakeWorkers) -> None:
    worker = fake_worker(fake)
    started: dict[str, asyncio.Event] = {"e1": asyncio.Event(), "e2": asyncio.Event()}
    cancelled: dict[str, str | None] = {}

    @worker.handler("work")
    async def work(ctx: Context) -> dict[str, Any]:
        started[ctx.execution_id].set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            assert ctx.cancelled.is_set()
            cancelled[ctx.execution_id] = ctx.cancel_reason
            raise
        return {}

    async with running(worker):
        session = await fake.next_session()
        await session.welcome()
        await session.assign("e1")
        await started["e1"].wait()
        await session.send(cancel=wpb.CancelAssignment(execution_id="e1", reason="timeout"))
        result = await session.recv("result")
        assert (result.execution_id, result.failure.error) == ("e1", "cancelled: timeout")
        assert result.failure.retryable

        deadline = wpb.Assignment().deadline
        deadline.FromDatetime(datetime.now(UTC) + timedelta(milliseconds=200))
        await session.assign("e2", deadline=deadline)
        result = await session.recv("result")
        assert (result.execution_id, result.failure.error) == ("e2", "cancelled: deadline exceeded")
        await session.send(cancel=wpb.CancelAssignment(execution_id="unknown", reason="cancelled"))
        for execution_id in ("e1", "e2"):
            await session.send(result_ack=wpb.ResultAck(execution_id=execution_id))

    assert cancelled == {"e1": "timeout", "e2": "deadline exceeded"}


HOLD = timedelta(milliseconds=300)


async def assign_held(session: FakeSession, execution_id: str, hold: timedelta) -> float:
    """An `assignments` message whose one assignment starts `hold` after it
    was sent, on a server clock far from the worker's (a day ahead: only the
    difference counts). Returns when it was sent, on the loop's clock."""
    sent_at = datetime.now(UTC) + timedelta(days=1)
    batch = wpb.Assignments(
        assignments=[wpb.Assignment(execution_id=execution_id, handler_name="work", attempt=1)]
    )
    batch.sent_at.FromDatetime(sent_at)
    batch.assignments[0].start_at.FromDatetime(sent_at + hold)
    sent = asyncio.get_running_loop().time()
    await session.send(assignments=batch)
    return sent


async def test_a_held_assignment_starts_at_its_instant_and_never_before(fake: FakeWorkers) -> None:
    worker = fake_worker(fake)
    started: dict[str, float] = {}

    @worker.handler("work")
    async def work(ctx: Context) -> dict[str, Any]:
        started[ctx.execution_id] = asyncio.get_running_loop().time()
        return {}

    async with running(worker):
        session = await fake.next_session()
        hello = await session.welcome(heartbeat=0.05)
        assert hello.holds_until_start and hello.accepts_batches
        sent = await assign_held(session, "e1", HOLD)
        result = await session.recv("result")
        assert result.execution_id == "e1" and result.HasField("success")
        assert started["e1"] - sent >= HOLD.total_seconds()  # never before its instant
        assert started["e1"] - sent < HOLD.total_seconds() + 2.0  # and not at some later poll
        await assign_held(session, "e2", -HOLD)  # its instant has passed: at once
        await session.recv("result")
        assert started["e2"] - sent < HOLD.total_seconds() + 2.0


async def test_a_held_assignment_is_listed_and_if_cancelled_before_its_start_never_runs(
    fake: FakeWorkers,
) -> None:
    worker = fake_worker(fake)
    ran: list[str] = []

    @worker.handler("work")
    async def work(ctx: Context) -> dict[str, Any]:
        ran.append(ctx.execution_id)
        return {}

    async with running(worker):
        session = await fake.next_session()
        await session.welcome(heartbeat=0.05)
        await assign_held(session, "e1", timedelta(seconds=2))
        while list((await session.recv("heartbeat")).execution_ids) != ["e1"]:
            pass  # the heartbeat sent before it arrived
        assert ran == []  # listed while held: it counts as running, not started
        await session.send(cancel=wpb.CancelAssignment(execution_id="e1", reason="cancelled"))
        result = await session.recv("result")
        assert (result.execution_id, result.failure.error) == ("e1", "cancelled: cancelled")
        await session.send(result_ack=wpb.ResultAck(execution_id="e1"))
        while list((await session.recv("heartbeat")).execution_ids):
            pass  # no longer listed once its cancelled result is acknowledged
    assert ran == []


async def test_heartbeats_list_what_runs(fake: FakeWorkers) -> None:
    worker = fake_worker(fake)
    release = asyncio.Event()

    @worker.handler("work")
    async def work(ctx: Context) -> dict[str, Any]:
        await release.wait()
        return {}

    async with running(worker):
        session = await fake.next_session()
        await session.welcome(heartbeat=0.05)
        assert list((await session.recv("heartbeat")).execution_ids) == []
        await session.assign("e2")
        await session.assign("e1")
        while list((await session.recv("heartbeat")).execution_ids) != ["e1", "e2"]:
            pass
        release.set()
        for _ in range(2):
            result = await session.recv("result")
            await session.send(result_ack=wpb.ResultAck(execution_id=result.execution_id))


async def test_resends_unacknowledged_results_after_reconnecting(fake: FakeWorkers) -> None:
    worker = fake_worker(fake)
    release = asyncio.Event()

    @worker.handler("work")
    async def work(ctx: Context) -> dict[str, Any]:
        if ctx.execution_id == "slow":
            await release.wait()
        return {"id": ctx.execution_id}

    async with running(worker):
        first = await fake.next_session()
        await first.welcome()
        await first.assign("done")
        await first.assign("slow")
        assert (await first.recv("result")).execution_id == "done"  # never acknowledged
        first.end(grpc.StatusCode.UNAVAILABLE, "replica going away")

        second = await fake.next_session()
        hello = await second.welcome()
        assert sorted((r.execution_id, r.attempt) for r in hello.running) == [
            ("done", 1),
            ("slow", 1),
        ]
        resent = await second.recv("result")
        assert resent.execution_id == "done" and to_dict(resent.success.result) == {"id": "done"}
        await second.send(result_ack=wpb.ResultAck(execution_id="done"))
        release.set()
        assert (await second.recv("result")).execution_id == "slow"
        await second.send(result_ack=wpb.ResultAck(execution_id="slow"))


async def test_drains_then_reconnects(fake: FakeWorkers) -> None:
    worker = fake_worker(fake)
    release = asyncio.Event()

    @worker.handler("work")
    async def work(ctx: Context) -> dict[str, Any]:
        await release.wait()
        return {}

    async with running(worker):
        first = await fake.next_session()
        await first.welcome()
        await first.assign("e1")
        await first.send(drain=wpb.Drain())
        assert (await first.recv("capacity")).slots == 0
        await first.nothing_but_heartbeats(0.1)
        assert not first.closed_by_worker.is_set()  # still owes e1
        release.set()
        assert (await first.recv("result")).execution_id == "e1"
        await first.send(result_ack=wpb.ResultAck(execution_id="e1"))
        await asyncio.wait_for(first.closed_by_worker.wait(), WAIT)

        second = await fake.next_session()
        hello = await second.welcome()
        assert hello.slots == 10 and list(hello.running) == []


async def test_stops_gracefully(fake: FakeWorkers) -> None:
    worker = fake_worker(fake)
    release = asyncio.Event()

    @worker.handler("work")
    async def work(ctx: Context) -> dict[str, Any]:
        await release.wait()
        return {"finished": True}

    async with running(worker) as task:
        session = await fake.next_session()
        await session.welcome()
        await session.assign("e1")
        await eventually(lambda: bool(worker._attempts))
        worker.stop()
        assert (await session.recv("capacity")).slots == 0
        await asyncio.sleep(0.05)
        assert not task.done()
        release.set()
        result = await session.recv("result")
        assert result.success.result["finished"]
        await asyncio.sleep(0.05)
        assert not task.done()  # waits for the acknowledgement too
        await session.send(result_ack=wpb.ResultAck(execution_id="e1"))
        await asyncio.wait_for(task, WAIT)
        assert task.result() is None
        await asyncio.wait_for(session.closed_by_worker.wait(), WAIT)


async def test_the_grace_period_cancels_what_still_runs(fake: FakeWorkers) -> None:
    worker = fake_worker(fake, grace_period=0.2)
    cancelled = asyncio.Event()

    @worker.handler("work")
    async def work(ctx: Context) -> dict[str, Any]:
        try:
            await asyncio.sleep(60)
        finally:
            cancelled.set()
        return {}

    async with running(worker) as task:
        session = await fake.next_session()
        await session.welcome()
        await session.assign("e1")
        await eventually(lambda: bool(worker._attempts))
        worker.stop()
        with pytest.raises(GracePeriodExceededError, match="1 executions running"):
            await asyncio.wait_for(task, WAIT)
    assert cancelled.is_set()


async def test_cancelling_run_stops_gracefully_first(fake: FakeWorkers) -> None:
    worker = fake_worker(fake)

    @worker.handler("work")
    async def work(ctx: Context) -> dict[str, Any]:
        await asyncio.sleep(0.1)
        return {}

    async with running(worker) as task:
        session = await fake.next_session()
        await session.welcome()
        await session.assign("e1")
        await eventually(lambda: bool(worker._attempts))
        task.cancel()
        assert (await session.recv("capacity")).slots == 0
        assert (await session.recv("result")).execution_id == "e1"
        await session.send(result_ack=wpb.ResultAck(execution_id="e1"))
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, WAIT)


async def test_never_runs_more_than_its_slots(fake: FakeWorkers) -> None:
    worker = fake_worker(fake, slots=2)
    now_running, most = 0, 0

    @worker.handler("work")
    async def work(ctx: Context) -> dict[str, Any]:
        nonlocal now_running, most
        now_running += 1
        most = max(most, now_running)
        await asyncio.sleep(0.05)
        now_running -= 1
        return {}

    async with running(worker):
        session = await fake.next_session()
        await session.welcome()
        for i in range(5):  # more than the server should send: the worker holds the line
            await session.assign(f"e{i}")
        for _ in range(5):
            result = await session.recv("result")
            assert result.HasField("success")
            await session.send(result_ack=wpb.ResultAck(execution_id=result.execution_id))
    assert most == 2


async def test_ignores_a_repeated_assignment(fake: FakeWorkers) -> None:
    worker = fake_worker(fake)
    runs: list[str] = []
    release = asyncio.Event()

    @worker.handler("work")
    async def work(ctx: Context) -> dict[str, Any]:
        runs.append(ctx.execution_id)
        await release.wait()
        return {}

    async with running(worker):
        session = await fake.next_session()
        await session.welcome()
        await session.assign("e1")
        await session.assign("e1")
        await eventually(lambda: runs == ["e1"])
        await asyncio.sleep(0.05)
        release.set()
        await session.recv("result")
        await session.send(result_ack=wpb.ResultAck(execution_id="e1"))
        await session.nothing_but_heartbeats(0.05)
    assert runs == ["e1"]


async def test_reconnects_with_backoff_after_the_stream_breaks(fake: FakeWorkers) -> None:
    worker = fake_worker(fake)

    @worker.handler("work")
    async def work(ctx: Context) -> None:
        return None

    async with running(worker) as task:
        for _ in range(3):
            session = await fake.next_session()
            await session.welcome()
            session.end()  # closed with OK, not after a drain
        session = await fake.next_session()
        await session.recv("hello")  # never welcomed
        session.end(grpc.StatusCode.UNAVAILABLE)
        await fake.next_session()
        assert not task.done()


@pytest.mark.parametrize(
    ("key", "refusal", "error"),
    [
        ("cs_wrong", None, UnauthenticatedError),
        (KEY, grpc.StatusCode.UNIMPLEMENTED, UnimplementedError),
    ],
)
async def test_gives_up_on_what_reconnecting_cannot_fix(
    fake: FakeWorkers, key: str, refusal: grpc.StatusCode | None, error: type[Exception]
) -> None:
    fake.refuse_with = refusal
    worker = fake_worker(fake, api_key=key)

    @worker.handler("work")
    async def work(ctx: Context) -> None:
        return None

    with pytest.raises(error):
        await asyncio.wait_for(worker.run(), WAIT)
    assert len(fake.authorizations) == 1


async def test_refuses_a_bad_setup() -> None:
    with pytest.raises(ValueError, match="slots"):
        Worker(api_key=KEY, slots=0)
    worker = Worker(api_key=KEY)
    with pytest.raises(RuntimeError, match="no handlers"):
        await worker.run()

    def sync_handler(ctx: Context) -> dict[str, Any]:
        return {}

    with pytest.raises(TypeError, match="async"):
        worker.register("sync", sync_handler)  # type: ignore[arg-type]
    worker.register("h", _noop)
    with pytest.raises(ValueError, match="twice"):
        worker.register("h", _noop)
    assert worker.worker_id.endswith(f"-{__import__('os').getpid()}")


async def _noop(ctx: Context) -> None:
    return None


async def test_a_handler_can_be_tested_with_a_bare_context() -> None:
    ctx = Context(execution_id="e1", payload={"to": "ops"})
    assert await ctx.log("goes nowhere") is False
    assert (ctx.attempt, ctx.job_id, ctx.cancel_reason) == (1, "", None)


# --- end to end, against the live server ---------------------------------------------

FINAL = {
    execution_pb2.EXECUTION_STATUS_SUCCESS,
    execution_pb2.EXECUTION_STATUS_FAILED,
    execution_pb2.EXECUTION_STATUS_TIMEOUT,
    execution_pb2.EXECUTION_STATUS_CANCELLED,
}
E2E_WAIT = 30.0


@pytest.fixture
async def client(live: Live, tenant: Tenant) -> AsyncIterator[Client]:
    async with Client.connect(live.address, tenant.secret) as client:
        yield client


def live_worker(live: Live, tenant: Tenant, **options: Any) -> Worker:
    options.setdefault("backoff", Backoff(base=0.05, cap=0.5))
    options.setdefault("grace_period", 10.0)
    return Worker(api_key=tenant.secret, target=live.address, worker_id="py-e2e", **options)


async def finished(client: Client, job_id: str) -> execution_pb2.Execution:
    """The job's first execution to reach a final status."""
    async with asyncio.timeout(E2E_WAIT):
        while True:
            async for execution in client.list_executions(job_id=job_id):
                if execution.status in FINAL:
                    return execution
            await asyncio.sleep(0.1)


async def logged(client: Client, execution_id: str, expected: str) -> list[str]:
    """The execution's log messages, once `expected` is among them (or at the timeout)."""
    messages: list[str] = []
    for _ in range(int(E2E_WAIT / 0.1)):
        messages = [log.message async for log in client.list_execution_logs(execution_id)]
        if expected in messages:
            break
        await asyncio.sleep(0.1)
    return messages


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=1)


async def test_e2e_a_once_job_runs_on_the_python_worker(
    live: Live, tenant: Tenant, client: Client
) -> None:
    worker = live_worker(live, tenant)

    @worker.handler("greet")
    async def greet(ctx: Context) -> dict[str, Any]:
        await ctx.log("hello from python")
        return {"ok": True, "lang": "python"}

    job = await client.create_job(name="greet", handler="greet", once=soon(), payload={"n": 1})
    async with running(worker):
        execution = await finished(client, job.id)

    assert execution.status == execution_pb2.EXECUTION_STATUS_SUCCESS, execution.error
    assert execution.result == {"ok": True, "lang": "python"}
    assert execution.worker_id == "py-e2e"
    # The server writes log lines in batches of their own: visible soon, not
    # necessarily before the result.
    assert "hello from python" in await logged(client, execution.id, "hello from python")


async def test_e2e_a_failed_attempt_is_retried(live: Live, tenant: Tenant, client: Client) -> None:
    worker = live_worker(live, tenant)
    attempts: list[int] = []

    @worker.handler("flaky")
    async def flaky(ctx: Context) -> dict[str, Any]:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return {"attempt": ctx.attempt}

    job = await client.create_job(
        name="flaky", handler="flaky", once=soon(), max_retries=2, retry_delay=timedelta(seconds=1)
    )
    async with running(worker):
        execution = await finished(client, job.id)

    assert execution.status == execution_pb2.EXECUTION_STATUS_SUCCESS, execution.error
    assert attempts == [1, 2]
    assert execution.attempt == 2 and execution.result == {"attempt": 2}


async def test_e2e_non_retryable_is_final(live: Live, tenant: Tenant, client: Client) -> None:
    worker = live_worker(live, tenant)
    attempts: list[int] = []

    @worker.handler("strict")
    async def strict(ctx: Context) -> dict[str, Any]:
        attempts.append(ctx.attempt)
        raise NonRetryable("no such recipient")

    job = await client.create_job(
        name="strict",
        handler="strict",
        once=soon(),
        max_retries=3,
        retry_delay=timedelta(seconds=1),
    )
    async with running(worker):
        execution = await finished(client, job.id)
        await asyncio.sleep(1.5)  # past the retry delay: nothing more comes

    assert execution.status == execution_pb2.EXECUTION_STATUS_FAILED
    assert execution.error == "no such recipient"
    assert attempts == [1]


async def test_e2e_cancel_reaches_the_handler(live: Live, tenant: Tenant, client: Client) -> None:
    worker = live_worker(live, tenant)
    started, stopped = asyncio.Event(), asyncio.Event()
    reasons: list[str | None] = []

    @worker.handler("slow")
    async def slow(ctx: Context) -> dict[str, Any]:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            reasons.append(ctx.cancel_reason)
            stopped.set()
            raise
        return {}

    job = await client.create_job(name="slow", handler="slow", once=soon())
    async with running(worker):
        await asyncio.wait_for(started.wait(), E2E_WAIT)
        (execution,) = [e async for e in client.list_executions(job_id=job.id)]
        await client.cancel_execution(execution.id)
        await asyncio.wait_for(stopped.wait(), E2E_WAIT)

    assert reasons == ["cancelled"]
    final = await client.get_execution(execution.id)
    assert final.status == execution_pb2.EXECUTION_STATUS_CANCELLED
