"""One attempt: run a handler in its own task, inside a span, and say how it went."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from cronstream._convert import struct, to_dict
from cronstream._payloads import PayloadError, from_json_object
from cronstream._version import __version__
from cronstream.context import Context, Sender, context_of
from cronstream.errors import NonRetryable
from cronstream.v1 import worker_service_pb2 as wpb

#: Returns a JSON object: a dict (None for `{}`), a dataclass or a pydantic model.
Handler = Callable[[Context[Any]], Awaitable[Any]]

_PROPAGATOR = TraceContextTextMapPropagator()
_INSTRUMENTATION = "cronstream"


class AttemptCancelled(Exception):
    """The attempt's handler was cancelled; reported as a retryable failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cancelled: {reason}")


class Attempt:
    """Runs one assignment. `cancel` may come at any time, from the server or
    the deadline; the handler's task is then cancelled, and the attempt
    reports a failure "cancelled: <reason>" (as the Go helper does; the
    server refuses it if the attempt is no longer current) unless the handler
    caught the cancellation and returned anyway."""

    def __init__(
        self,
        assignment: wpb.Assignment,
        handler: Handler | None,
        send: Sender,
        tracer_provider: trace.TracerProvider | None = None,
        payload_type: type | None = None,
    ) -> None:
        self.assignment = assignment
        self._payload_type = payload_type
        self.context = context_of(assignment, to_dict(assignment.payload), send)
        self._handler = handler
        self._tracer_provider = tracer_provider
        self._task: asyncio.Task[Any] | None = None

    def cancel(self, reason: str) -> None:
        """Cancels the handler (once); it sees `context.cancelled` set first."""
        if self.context.cancelled.is_set():
            return
        self.context.cancel_reason = reason
        self.context.cancelled.set()
        if self._task is not None:
            self._task.cancel(reason)

    async def run(self, slots: asyncio.Semaphore, start_at: float = 0.0) -> wpb.WorkerResult:
        """Runs the handler from `start_at` (the event loop's clock: a held
        assignment's instant) once a slot is free; returns the result to
        report. Cancelling the task that runs this cancels the handler, and
        no result is made (the worker is going away)."""
        timer = self._arm_deadline()
        try:
            await self._hold(start_at)
            async with slots:
                outcome = await self._outcome()
        finally:
            if timer is not None:
                timer.cancel()
        return result_of(self.assignment, outcome)

    async def _hold(self, start_at: float) -> None:
        """Until `start_at`, or a cancel (which `_outcome` then reports)."""
        loop = asyncio.get_running_loop()
        # A timer may run a hair before its time: look again until it has come.
        while (remaining := start_at - loop.time()) > 0 and not self.context.cancelled.is_set():
            try:
                await asyncio.wait_for(self.context.cancelled.wait(), remaining)
            except TimeoutError:
                pass

    def _arm_deadline(self) -> asyncio.TimerHandle | None:
        deadline = self.context.deadline
        if deadline is None:
            return None
        delay = max(deadline.timestamp() - time.time(), 0.0)
        return asyncio.get_running_loop().call_later(delay, self.cancel, "deadline exceeded")

    async def _outcome(self) -> Any:
        if self.context.cancelled.is_set():  # cancelled while waiting for a slot
            return AttemptCancelled(self.context.cancel_reason or "cancelled")
        self._task = asyncio.create_task(self._handle())
        try:
            return await self._task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this task, not only the handler's, is being cancelled
            return AttemptCancelled(self.context.cancel_reason or "cancelled")
        except Exception as exc:
            return exc

    async def _handle(self) -> Any:
        """The handler, in a span continuing the execution's trace."""
        a = self.assignment
        carrier = {"traceparent": a.traceparent, "tracestate": a.tracestate}
        parent = _PROPAGATOR.extract(carrier) if a.traceparent else None
        tracer = trace.get_tracer(
            _INSTRUMENTATION, __version__, tracer_provider=self._tracer_provider
        )
        # OpenTelemetry's messaging conventions: the processing of a message
        # (the execution) from a destination (the handler), a child of the
        # server's "send <handler>" span.
        with tracer.start_as_current_span(
            f"process {a.handler_name}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "cronstream",
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": a.handler_name,
                "messaging.message.id": a.execution_id,
                "cronstream.job.id": a.job_id,
                "cronstream.execution.attempt": a.attempt,
            },
        ):
            if self._handler is None:
                raise LookupError(f"this worker has no handler {a.handler_name!r}")
            if self._payload_type is not None:
                self.context.payload = typed_payload(self._payload_type, self.context.payload)
            return await self._handler(self.context)


def typed_payload(kind: type, payload: Mapping[str, Any]) -> Any:
    """The payload as the handler's declared type; one that does not fit
    fails the attempt for good (a retry gets the same payload)."""
    try:
        return from_json_object(kind, payload)
    except PayloadError as exc:
        raise NonRetryable(f"payload does not fit {kind.__name__}: {exc}") from exc


def result_of(assignment: wpb.Assignment, outcome: Any) -> wpb.WorkerResult:
    """The result message of an attempt that returned or raised `outcome`."""
    result = wpb.WorkerResult(execution_id=assignment.execution_id, attempt=assignment.attempt)
    if not isinstance(outcome, BaseException):
        try:
            result.success.result.CopyFrom(struct(outcome, "the handler's result"))
            return result
        except (TypeError, ValueError) as exc:
            # A retry would return the same thing: fail for good.
            outcome = NonRetryable(f"handler result: {exc}")
    result.failure.CopyFrom(failure_of(outcome))
    return result


def failure_of(error: BaseException) -> wpb.ResultFailure:
    failure = wpb.ResultFailure(
        error=str(error) or type(error).__name__,
        retryable=not isinstance(error, NonRetryable),
    )
    if error.__traceback__ is not None:
        failure.error_stack = "".join(traceback.format_exception(error))
    return failure
