"""`Context`: what a handler is asked to run, one attempt of one execution."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal

from google.protobuf import timestamp_pb2
from typing_extensions import TypeVar  # a default (PEP 696) before Python 3.13

from cronstream._convert import to_datetime
from cronstream.models import LogLevel
from cronstream.v1 import worker_service_pb2 as wpb

LogLevelName = Literal["debug", "info", "warn", "warning", "error"]

#: The payload's type: a dict unless the handler declares `Context[Report]`.
P = TypeVar("P", default=dict[str, Any])

# Hands a message to the worker stream; False while disconnected.
Sender = Callable[[wpb.ConnectRequest], Awaitable[bool]]

# The server's limit on one log message.
MAX_LOG_BYTES = 64 * 1024

_LEVELS = {
    "debug": LogLevel.DEBUG,
    "info": LogLevel.INFO,
    "warn": LogLevel.WARN,
    "warning": LogLevel.WARN,
    "error": LogLevel.ERROR,
}


@dataclass(eq=False, kw_only=True)
class Context(Generic[P]):
    """One attempt of one execution. The worker makes it; a test of a handler
    can too (`Context(execution_id="e1", payload={...})`; `log` then goes
    nowhere).

    `Context[Report]` in a handler's signature (or `payload_type=Report` when
    registering it) makes `payload` a `Report`: a dataclass or a pydantic
    model, built from the JSON payload before the handler runs."""

    execution_id: str
    #: Empty for event-handler deliveries.
    job_id: str = ""
    handler_name: str = ""
    #: The job's JSON payload (whole numbers are int, as `json.loads` reads
    #: them), or an instance of the handler's declared payload type.
    payload: P = field(default_factory=dict)  # type: ignore[assignment]
    #: Counts from 1.
    attempt: int = 1
    scheduled_at: datetime | None = None
    #: When the server times the attempt out; the handler is cancelled then.
    deadline: datetime | None = None
    #: Set just before the handler's task is cancelled: by the server
    #: (`cancel_reason` says why: "cancelled", "timeout", "overlap",
    #: "lease lost"), at the deadline ("deadline exceeded"), or when a stopping
    #: worker's grace period ends. A handler that shields work from
    #: cancellation can poll it.
    cancelled: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    cancel_reason: str | None = None
    _send: Sender | None = field(default=None, init=False, repr=False)

    async def log(self, message: str, level: LogLevel | LogLevelName = "info") -> bool:
        """Stores a line with the execution. Lines travel on the worker stream
        as they come (waiting if the stream is backed up); one logged while
        the worker is disconnected is dropped. Returns whether it was sent."""
        if self._send is None:
            return False
        number = level if isinstance(level, LogLevel) else _LEVELS.get(level, LogLevel.INFO)
        line = wpb.WorkerLog(
            execution_id=self.execution_id,
            level=number.value,  # type: ignore[arg-type]
            message=truncate_utf8(message, MAX_LOG_BYTES),
            attempt=self.attempt,
        )
        line.time.GetCurrentTime()
        return await self._send(wpb.ConnectRequest(log=line))


def truncate_utf8(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, never inside a character."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode(errors="ignore")


def context_of(assignment: wpb.Assignment, payload: Any, send: Sender) -> Context[Any]:
    context: Context[Any] = Context(
        execution_id=assignment.execution_id,
        job_id=assignment.job_id,
        handler_name=assignment.handler_name,
        payload=payload,
        attempt=assignment.attempt,
        scheduled_at=_optional_time(assignment, "scheduled_at", assignment.scheduled_at),
        deadline=_optional_time(assignment, "deadline", assignment.deadline),
    )
    context._send = send
    return context


def _optional_time(
    message: wpb.Assignment,
    name: Literal["scheduled_at", "deadline"],
    value: timestamp_pb2.Timestamp,
) -> datetime | None:
    return to_datetime(value) if message.HasField(name) else None
