"""`Context`: what a handler is asked to run, one attempt of one execution."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from google.protobuf import timestamp_pb2

from cronstream._convert import to_datetime
from cronstream.v1 import execution_pb2
from cronstream.v1 import worker_service_pb2 as wpb

LogLevel = Literal["debug", "info", "warn", "warning", "error"]

# Hands a message to the worker stream; False while disconnected.
Sender = Callable[[wpb.ConnectRequest], Awaitable[bool]]

# The server's limit on one log message.
MAX_LOG_BYTES = 64 * 1024

_LEVELS = {
    "debug": execution_pb2.LOG_LEVEL_DEBUG,
    "info": execution_pb2.LOG_LEVEL_INFO,
    "warn": execution_pb2.LOG_LEVEL_WARN,
    "warning": execution_pb2.LOG_LEVEL_WARN,
    "error": execution_pb2.LOG_LEVEL_ERROR,
}


@dataclass(eq=False, kw_only=True)
class Context:
    """One attempt of one execution. The worker makes it; a test of a handler
    can too (`Context(execution_id="e1", payload={...})`; `log` then goes
    nowhere)."""

    execution_id: str
    #: Empty for event-handler deliveries.
    job_id: str = ""
    handler_name: str = ""
    #: The job's JSON payload; whole numbers are int, as `json.loads` reads them.
    payload: dict[str, Any] = field(default_factory=dict)
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

    async def log(self, message: str, level: LogLevel = "info") -> bool:
        """Stores a line with the execution. Lines travel on the worker stream
        as they come (waiting if the stream is backed up); one logged while
        the worker is disconnected is dropped. Returns whether it was sent."""
        if self._send is None:
            return False
        line = wpb.WorkerLog(
            execution_id=self.execution_id,
            level=_LEVELS.get(level, execution_pb2.LOG_LEVEL_INFO),
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


def context_of(assignment: wpb.Assignment, payload: dict[str, Any], send: Sender) -> Context:
    context = Context(
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
