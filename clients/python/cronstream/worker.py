"""`Worker`: runs handlers for the executions a Cronstream server assigns."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import NoReturn, TypeVar

import grpc
from opentelemetry import trace

from cronstream._attempt import Attempt, Handler
from cronstream._backoff import Backoff
from cronstream._ledger import Ledger
from cronstream._payloads import payload_type_of
from cronstream._session import Session, SessionEnded, capacity_message, result_message
from cronstream.client import Client
from cronstream.errors import PERMANENT, CronstreamError, GracePeriodExceededError
from cronstream.v1 import worker_service_pb2 as wpb

__all__ = ["Worker"]

_H = TypeVar("_H", bound=Handler)

# A session that lived this long starts the backoff over.
_HEALTHY_SESSION = 1.0


class Worker:
    """Connects to a Cronstream server and runs the handlers registered with
    `handler()` for the executions it assigns::

        worker = Worker(api_key=key, target="127.0.0.1:50051", slots=10)

        @worker.handler("send_report")
        async def send_report(ctx: Context[Report]) -> Summary:
            await ctx.log(f"attempt {ctx.attempt} for {ctx.payload.recipient}")
            return Summary(sent=True)

        await worker.run()  # until stop() or cancellation; or worker.run_forever()

    A handler returns a JSON object (a dict, None for `{}`, or a dataclass or
    pydantic model instance) or raises: `NonRetryable` fails for good, any
    other exception is retried under the job's policy. `Context[Report]`
    (a dataclass or pydantic model) makes `ctx.payload` a `Report`; a payload
    that does not fit fails the attempt for good. See the package README for
    what the worker does for you. Its records go to the `cronstream.worker`
    logger: a WARNING (retryable) or ERROR (final) per failed attempt,
    successes at DEBUG, connections and reconnections at INFO/WARNING.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        target: str = "127.0.0.1:50051",
        tls: bool | grpc.ChannelCredentials = False,
        client: Client | None = None,
        worker_id: str | None = None,
        slots: int = 10,
        grace_period: float = 30.0,
        backoff: Backoff | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        """`client` (whose key and channel it then uses, and does not close)
        replaces api_key/target/tls. `worker_id` defaults to "<hostname>-<pid>";
        keep it stable across restarts. `grace_period` is how long a stop waits
        for running handlers, in seconds. `backoff` spaces reconnections
        (default: uniform(0, min(5 s, 100 ms × 2**n)) for the n-th consecutive
        failure from 0, "full jitter")."""
        if not 1 <= slots <= 10_000:
            raise ValueError(f"slots must be 1 to 10000, not {slots}")
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.slots = slots
        self.grace_period = grace_period
        self._api_key, self._target, self._tls, self._client = api_key, target, tls, client
        self._backoff = backoff or Backoff()
        self._tracer_provider = tracer_provider
        self._log = logger or logging.getLogger("cronstream.worker")
        self._handlers: dict[str, tuple[Handler, type | None]] = {}
        self._started = False
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._ledger = Ledger()
        self._attempts: dict[asyncio.Task[None], Attempt] = {}
        self._session: Session | None = None
        self._free_slots = asyncio.Semaphore(slots)

    # --- registration ---------------------------------------------------------

    def handler(self, name: str, *, payload_type: type | None = None) -> Callable[[_H], _H]:
        """Registers the decorated coroutine function for jobs whose handler
        name is `name`. Its payload type is `payload_type`, else the `T` of
        its `ctx: Context[T]` annotation, else none (a dict)."""

        def register(fn: _H) -> _H:
            self.register(name, fn, payload_type=payload_type)
            return fn

        return register

    def register(self, name: str, fn: Handler, *, payload_type: type | None = None) -> None:
        if not name:
            raise ValueError("a handler needs a name")
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"handler {name!r} must be an async function")
        if self._started:
            raise RuntimeError("register handlers before run()")
        if name in self._handlers:
            raise ValueError(f"handler {name!r} registered twice")
        self._handlers[name] = (fn, payload_type or payload_type_of(fn))

    # --- running --------------------------------------------------------------

    async def run(self) -> None:
        """Connects and runs assignments, reconnecting with jittered backoff
        whenever the stream ends, until `stop()` (returns) or cancellation
        (re-raises). Either way it first stops gracefully: it tells the
        server it takes no more work, and waits up to the grace period for
        running handlers and their acknowledgements; past it, it cancels them
        and `stop()` raises `GracePeriodExceededError` (a second cancellation
        skips the wait). Raises at once what reconnecting cannot fix: a wrong
        key (`UnauthenticatedError`), a rejected hello (`InvalidArgumentError`),
        a server without the WorkerService (`UnimplementedError`)."""
        self._begin()
        client = self._client or Client.connect(self._target, self._api_key, tls=self._tls)
        connector = asyncio.create_task(self._connect_loop(client), name="cronstream-worker")
        try:
            try:
                await self._until_stop(connector)
            except asyncio.CancelledError:
                await self._stop_on_cancel(connector)
                raise
            await self._stop_gracefully(connector)
        finally:
            await self._shutdown(connector)
            if self._client is None:
                await client.close()

    def stop(self) -> None:
        """Asks `run()` to stop gracefully; it returns when done. Call it from
        the worker's event loop (from another thread, through
        `loop.call_soon_threadsafe`)."""
        self._stop_requested.set()

    def run_forever(self) -> None:
        """Runs the worker in a new event loop until SIGINT or SIGTERM, which
        stop it gracefully; a second signal stops it at once."""
        asyncio.run(self._run_with_signals())

    async def _run_with_signals(self) -> None:
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()

        def on_signal() -> None:
            if self._stop_requested.is_set() and main is not None:
                main.cancel()
            self.stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        try:
            await self.run()
        except asyncio.CancelledError:
            self._log.warning("cronstream: worker stopped without waiting for its handlers")
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def _begin(self) -> None:
        if self._started:
            raise RuntimeError("run() called twice")
        if not self._handlers:
            raise RuntimeError("no handlers: register one with @worker.handler(name) first")
        self._started = True

    async def _until_stop(self, connector: asyncio.Task[NoReturn]) -> None:
        """Waits for stop(); raises the connector's permanent error if first."""
        stop = asyncio.create_task(self._stop_requested.wait())
        try:
            await asyncio.wait({connector, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if connector.done():
            connector.result()

    async def _stop_gracefully(self, connector: asyncio.Task[NoReturn]) -> None:
        """No more work; wait until the worker owes the server nothing."""
        self._stopping = True
        self._log.info("cronstream: worker stopping (grace period %g s)", self.grace_period)
        if self._session is not None:
            self._session.send_nowait(capacity_message(0))
        idle = asyncio.create_task(self._ledger.wait_idle())
        try:
            await asyncio.wait(
                {idle, connector}, timeout=self.grace_period, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            idle.cancel()
        if connector.done():
            connector.result()
        running, unacknowledged = self._ledger.counts()
        if running or unacknowledged:
            raise GracePeriodExceededError(self.grace_period, running, unacknowledged)

    async def _stop_on_cancel(self, connector: asyncio.Task[NoReturn]) -> None:
        self.stop()
        try:
            await self._stop_gracefully(connector)
        except (CronstreamError, GracePeriodExceededError) as exc:
            self._log.warning("cronstream: worker cancelled: %s", exc)

    async def _shutdown(self, connector: asyncio.Task[NoReturn]) -> None:
        """Cancels what still runs (nothing after a graceful stop) and closes
        the stream."""
        for task, attempt in self._attempts.items():
            attempt.context.cancel_reason = attempt.context.cancel_reason or "worker stopped"
            attempt.context.cancelled.set()
            task.cancel()
        connector.cancel()
        await asyncio.gather(connector, *self._attempts, return_exceptions=True)

    # --- sessions -------------------------------------------------------------

    async def _connect_loop(self, client: Client) -> NoReturn:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            began = loop.time()
            welcomed = await self._session_once(client)
            if welcomed and loop.time() - began > _HEALTHY_SESSION:
                failures = 0
            delay = self._backoff.delay(failures)
            failures += 1
            level = logging.INFO if failures == 1 else logging.WARNING
            self._log.log(level, "cronstream: reconnecting in %.2f s (try %d)", delay, failures)
            await asyncio.sleep(delay)

    async def _session_once(self, client: Client) -> bool:
        """Runs one session to its end; whether it was welcomed."""
        call = client._open_worker_stream()
        session = Session(call, self._ledger, self._start_attempt, self._log)
        try:
            await session.handshake(self._hello())
            self._log.info("cronstream: worker connected, session %s", session.session_id)
            self._attach(session)
            await session.serve()
        except PERMANENT:
            raise
        except (SessionEnded, CronstreamError) as exc:
            # After a drain the server may end the stream with UNAVAILABLE: expected.
            level = logging.INFO if session.drain_requested else logging.WARNING
            self._log.log(level, "cronstream: worker stream ended: %s", exc)
        finally:
            if self._session is session:
                self._session = None
            session.close()
            call.cancel()
        return session.welcomed

    def _hello(self) -> wpb.WorkerHello:
        return wpb.WorkerHello(
            worker_id=self.worker_id,
            handler_names=sorted(self._handlers),
            slots=0 if self._stopping else self.slots,
            running=self._ledger.held(),
            accepts_batches=True,
            holds_until_start=True,  # started at its instant here (cronstream._hold)
        )

    def _attach(self, session: Session) -> None:
        """Routes results and logs to `session`; re-sends unacknowledged results."""
        self._session = session
        if self._stopping:  # stop() came during the handshake
            session.send_nowait(capacity_message(0))
        for result in self._ledger.unacked():
            session.send_nowait(result_message(result))

    async def _send(self, message: wpb.ConnectRequest) -> bool:
        session = self._session
        return session is not None and await session.send(message)

    # --- attempts -------------------------------------------------------------

    def _start_attempt(self, assignment: wpb.Assignment, start_at: float) -> None:
        """Runs an attempt from `start_at` (the event loop's clock) on; it
        counts as running, and answers to a cancel, from now."""
        handler, payload_type = self._handlers.get(assignment.handler_name, (None, None))
        attempt = Attempt(
            assignment, handler, self._send, self._tracer_provider, payload_type=payload_type
        )
        if not self._ledger.begin(assignment.execution_id, assignment.attempt, attempt.cancel):
            return  # a repeated assignment of an attempt already running
        task = asyncio.create_task(
            self._execute(attempt, start_at), name=f"cronstream-attempt-{assignment.execution_id}"
        )
        self._attempts[task] = attempt
        task.add_done_callback(self._forget)

    async def _execute(self, attempt: Attempt, start_at: float) -> None:
        result = await attempt.run(self._free_slots, start_at)
        self._log_result(result)
        if self._ledger.finish(result) and self._session is not None:
            self._session.send_nowait(result_message(result))

    def _log_result(self, result: wpb.WorkerResult) -> None:
        """One line per attempt: DEBUG for a success, WARNING for a failure
        the server may retry (if the job has retries left), ERROR for a final one."""
        where = (result.execution_id, result.attempt)
        if result.HasField("success"):
            self._log.debug("cronstream: execution %s attempt %d succeeded", *where)
            return
        failure = result.failure
        self._log.log(
            logging.WARNING if failure.retryable else logging.ERROR,
            "cronstream: execution %s attempt %d failed (%s): %s",
            *where,
            "retried if retries remain" if failure.retryable else "not retryable",
            failure.error,
        )

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._attempts.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("cronstream: attempt crashed", exc_info=task.exception())
