"""One WorkerService.Connect stream, from hello to its end.

After the hello/welcome handshake three coroutines run the session under an
`asyncio.TaskGroup`, and the first to end ends it, raising why:

- `_receive` reads and dispatches the server's messages;
- `_send` is the stream's only writer, draining one `asyncio.Queue` (results
  queued together go as one message, a result waiting up to `linger` for
  the others while more attempts run);
- `_keep_leases` sends heartbeats listing the running executions.

What outlives a session (running attempts, unacknowledged results) is in the
worker's `Ledger`, so a session can die at any moment.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from typing import NoReturn

from grpc import aio

from cronstream._hold import hold_seconds
from cronstream._ledger import Ledger
from cronstream.client import WorkerStream
from cronstream.errors import from_rpc_error
from cronstream.v1 import worker_service_pb2 as wpb

WELCOME_TIMEOUT = 30.0
DEFAULT_HEARTBEAT = 10.0
MIN_HEARTBEAT = 0.01
# Past this many queued messages, `send` (log lines) waits for the writer.
HIGH_WATER = 256
# Most results in one `results` message (the server's limit).
MAX_BATCH = 500
# How long a result waits for others to share its message while other attempts
# still run, in seconds. The server pays per message, not per result, and fast
# handlers finish one at a time, so the writer mostly finds a single result
# queued (the Go worker, before it waited, sent 13,185 of 20,000 results
# alone). With nothing else running no result can join, so it goes at once.
RESULT_LINGER = 0.001


class State(enum.Enum):
    HANDSHAKE = "handshake"  # hello sent, waiting for welcome
    ACTIVE = "active"  # taking assignments
    DRAINING = "draining"  # the server asked: finish, then reconnect
    CLOSED = "closed"  # ended; sends are refused


class SessionEnded(Exception):
    """The stream ended without an error status; the worker reconnects."""


class Drained(SessionEnded):
    """The session drained, as the server asked, and owes nothing more."""

    def __init__(self) -> None:
        super().__init__("drained as the server asked")


class StreamClosed(SessionEnded):
    """The server closed the stream, or answered hello with something else."""


class Session:
    """A worker stream with explicit states (see `State`)."""

    def __init__(
        self,
        call: WorkerStream,
        ledger: Ledger,
        start: Callable[[wpb.Assignment, float], None],
        log: logging.Logger,
        *,
        linger: float = RESULT_LINGER,
    ) -> None:
        self.state = State.HANDSHAKE
        self.session_id = ""
        self.heartbeat_interval = DEFAULT_HEARTBEAT
        self.drain_requested = False
        self.batches = False  # the server takes `results` (its welcome says so)
        self.linger = linger
        self._call = call
        self._ledger = ledger
        self._start = start
        self._log = log
        self._queue: asyncio.Queue[wpb.ConnectRequest] = asyncio.Queue()
        self._room = asyncio.Event()
        self._room.set()

    @property
    def welcomed(self) -> bool:
        return self.session_id != ""

    async def handshake(self, hello: wpb.WorkerHello) -> None:
        """Sends hello and waits for welcome (at most WELCOME_TIMEOUT)."""
        await self._write(wpb.ConnectRequest(hello=hello))
        try:
            async with asyncio.timeout(WELCOME_TIMEOUT):
                message = await self._read()
        except TimeoutError:
            raise StreamClosed(f"no welcome within {WELCOME_TIMEOUT:g} s") from None
        if message is None or message.WhichOneof("msg") != "welcome":
            kind = "the end of the stream" if message is None else message.WhichOneof("msg")
            raise StreamClosed(f"the server answered hello with {kind}, not welcome")
        self.session_id = message.welcome.session_id or "(unnamed)"
        self.heartbeat_interval = heartbeat_interval(message.welcome)
        self.batches = message.welcome.accepts_batches
        self.state = State.ACTIVE

    async def serve(self) -> NoReturn:
        """Runs the three loops until one ends; raises why: `SessionEnded`,
        or the stream's status as a `CronstreamError`."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._receive())
                group.create_task(self._send())
                group.create_task(self._keep_leases())
        except ExceptionGroup as group:
            raise _why(group) from None
        finally:
            self.close()
        raise AssertionError("the session's loops never return")

    def send_nowait(self, message: wpb.ConnectRequest) -> bool:
        """Queues a message for the writer; False once the session is closed."""
        if self.state is State.CLOSED:
            return False
        self._queue.put_nowait(message)
        if self._queue.qsize() >= HIGH_WATER:
            self._room.clear()
        return True

    async def send(self, message: wpb.ConnectRequest) -> bool:
        """Like `send_nowait`, then waits while the writer is backed up."""
        if not self.send_nowait(message):
            return False
        await self._room.wait()
        return True

    def close(self) -> None:
        self.state = State.CLOSED
        self._room.set()

    async def _receive(self) -> NoReturn:
        while True:
            message = await self._read()
            if message is None:
                if self.state is State.DRAINING:
                    raise Drained()
                raise StreamClosed("the server closed the worker stream")
            self._dispatch(message)
            if self.state is State.DRAINING and self._ledger.idle():
                raise Drained()

    def _dispatch(self, message: wpb.ConnectResponse) -> None:
        kind = message.WhichOneof("msg")
        arrived = asyncio.get_running_loop().time()
        if kind == "assignment":
            self._start(message.assignment, arrived)
        elif kind == "assignments":
            batch = message.assignments
            for assignment in batch.assignments:
                self._start(assignment, arrived + hold_seconds(assignment, batch))
        elif kind == "cancel":
            self._ledger.cancel(message.cancel.execution_id, message.cancel.reason or "cancelled")
        elif kind == "result_ack":
            self._ledger.ack(message.result_ack.execution_id)
        elif kind == "result_acks":
            for ack in message.result_acks.acks:
                self._ledger.ack(ack.execution_id)
        elif kind == "drain":
            self._drain()
        else:
            self._log.warning("cronstream: unexpected message on the worker stream: %s", kind)

    def _drain(self) -> None:
        if self.state is not State.ACTIVE:
            return
        self.state = State.DRAINING
        self.drain_requested = True
        self.send_nowait(capacity_message(0))
        self._log.info(
            "cronstream: server draining session %s; finishing, then reconnecting",
            self.session_id,
        )

    async def _send(self) -> NoReturn:
        carried: wpb.ConnectRequest | None = None
        while True:
            message = carried or await self._queue.get()
            carried = None
            if self.batches and message.WhichOneof("msg") == "result":
                message, carried = await self._with_queued_results(message)
            if self._queue.qsize() < HIGH_WATER:
                self._room.set()
            await self._write(message)

    async def _with_queued_results(
        self, first: wpb.ConnectRequest
    ) -> tuple[wpb.ConnectRequest, wpb.ConnectRequest | None]:
        """The results queued right behind `first`, as one `results` message
        (order kept: the first other message taken is carried to the next
        write). While other attempts run it waits up to `linger` in all for
        their results. Returns the message to write and the one carried."""
        results = [first.result]
        linger_ends: float | None = None
        while len(results) < MAX_BATCH:
            following = self._queue.get_nowait() if not self._queue.empty() else None
            # Asked each time the queue runs dry: once no other attempt runs,
            # no result can join, and waiting would only delay these.
            if following is None and self._ledger.running_count() > 0:
                if linger_ends is None:
                    linger_ends = asyncio.get_running_loop().time() + self.linger
                following = await self._queued_before(linger_ends)
            if following is None:
                break
            if following.WhichOneof("msg") != "result":
                return _batch(first, results), following
            results.append(following.result)
        return _batch(first, results), None

    async def _queued_before(self, deadline: float) -> wpb.ConnectRequest | None:
        """The next message queued before `deadline` (loop time), else None.
        A get cut short by the timeout takes nothing from the queue."""
        try:
            async with asyncio.timeout_at(deadline):
                return await self._queue.get()
        except TimeoutError:
            return None

    async def _keep_leases(self) -> NoReturn:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            if self.state is State.DRAINING and self._ledger.idle():
                raise Drained()
            heartbeat = wpb.WorkerHeartbeat(execution_ids=self._ledger.running_ids())
            self.send_nowait(wpb.ConnectRequest(heartbeat=heartbeat))

    async def _read(self) -> wpb.ConnectResponse | None:
        """The next message; None at the end of a stream closed with OK."""
        try:
            message = await self._call.read()
        except aio.AioRpcError as exc:
            raise from_rpc_error(exc) from exc
        return message if isinstance(message, wpb.ConnectResponse) else None

    async def _write(self, message: wpb.ConnectRequest) -> None:
        try:
            await self._call.write(message)
        except (aio.AioRpcError, asyncio.InvalidStateError):
            # The call has ended; reading reports how, so wait for that.
            if self.state is State.HANDSHAKE:
                await self._read()
                raise StreamClosed("the server closed the worker stream") from None
            await asyncio.Event().wait()


def _why(group: ExceptionGroup[Exception]) -> Exception:
    """The reason a session ended: a status (or a bug) before a clean end."""
    errors = list(group.exceptions)
    failures = [e for e in errors if not isinstance(e, SessionEnded)]
    return (failures or errors)[0]


def heartbeat_interval(welcome: wpb.Welcome) -> float:
    """The welcome's interval; else a third of the lease; else 10 s."""
    if welcome.HasField("heartbeat_interval"):
        seconds = welcome.heartbeat_interval.ToTimedelta().total_seconds()
        if seconds > 0:
            return max(seconds, MIN_HEARTBEAT)
    if welcome.HasField("lease_duration"):
        lease = welcome.lease_duration.ToTimedelta().total_seconds()
        if lease > 0:
            return max(lease / 3, MIN_HEARTBEAT)
    return DEFAULT_HEARTBEAT


def capacity_message(slots: int) -> wpb.ConnectRequest:
    return wpb.ConnectRequest(capacity=wpb.WorkerCapacity(slots=slots))


def result_message(result: wpb.WorkerResult) -> wpb.ConnectRequest:
    return wpb.ConnectRequest(result=result)


def _batch(first: wpb.ConnectRequest, results: list[wpb.WorkerResult]) -> wpb.ConnectRequest:
    """`results` as one message; `first`, their first, as it is when alone."""
    if len(results) == 1:
        return first
    return wpb.ConnectRequest(results=wpb.WorkerResults(results=results))
