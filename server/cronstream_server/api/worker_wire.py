"""Assignments encoded once, when they are claimed, so that their instant
costs only the write.

A dispatcher claims executions up to 0.2 s before their instant and a
session holds them until then (engine.session). Built into one batched
`ConnectResponse` at the instant, 500 assignments cost 0.8 ms of message
building and 0.1 ms of serializing, per session, one session after the
other on the event loop, on the path from the timer to the socket. So each
assignment is serialized at the claim as a `ConnectResponse` holding it
alone in `assignments`. Protobuf parses concatenated encodings of a message
as one message with its fields merged, and a repeated field's elements
appended (the encoding's documented merge rule): the bytes of such
responses joined are the encoding of one response holding all of their
assignments, in order. The stream's serializer passes those bytes through
as they are, and serializes every other response as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc
from cronstream.v1 import worker_service_pb2 as wpb

from cronstream_server.api.convert_common import set_timestamp, timestamp
from cronstream_server.core.dispatch import Start

SERVICE = "cronstream.v1.WorkerService"


@dataclass(frozen=True, slots=True)
class Built:
    """An assignment's message, and its encoding as a response of its own
    that joins with others' (see the module's docstring)."""

    message: wpb.Assignment
    framed: bytes


def prepared_assignment(start: Start) -> tuple[Built, int]:
    """An assignment built and encoded, and its size (see Session's outbox bound)."""
    message = assignment(start)
    framed = wpb.ConnectResponse(
        assignments=wpb.Assignments(assignments=[message])
    ).SerializeToString()
    return Built(message, framed), len(framed)


def assignment(start: Start) -> wpb.Assignment:
    execution = start.execution
    message = wpb.Assignment(
        execution_id=execution.id,
        job_id=execution.job_id or "",
        handler_name=execution.handler_name,
        attempt=execution.attempt,
        traceparent=start.trace.traceparent,
        tracestate=start.trace.tracestate,
    )
    set_timestamp(message.scheduled_at, execution.scheduled_at)
    set_timestamp(message.deadline, start.deadline_at)
    set_timestamp(message.start_at, start.started_at)
    if execution.payload is not None:
        message.payload.update(execution.payload)
    return message


def joined(built: Iterable[Built]) -> bytes:
    """One batched response's encoding, from assignments built ahead."""
    return b"".join(b.framed for b in built)


def stamped(
    response: wpb.ConnectResponse | bytes, sent_at: datetime
) -> wpb.ConnectResponse | bytes:
    """An `assignments` response with its `sent_at` (others as they are). An
    encoding made ahead gets the field appended: by the same merge rule, the
    bytes then parse as the response with `sent_at` set."""
    if isinstance(response, bytes):  # only assignments are encoded ahead
        stamp = wpb.ConnectResponse(assignments=wpb.Assignments(sent_at=timestamp(sent_at)))
        return response + stamp.SerializeToString()
    if response.WhichOneof("msg") == "assignments":
        set_timestamp(response.assignments.sent_at, sent_at)
    return response


def serialize_response(response: wpb.ConnectResponse | bytes) -> bytes:
    """The stream's serializer: an encoding made ahead goes as it is."""
    if isinstance(response, bytes):
        return response
    return response.SerializeToString()


def add_worker_service(connect: Callable[..., Any], server: grpc.aio.Server) -> None:
    """Registers WorkerService.Connect as the generated code does, with
    `serialize_response` for its responses. `connect` is the servicer's
    bound Connect method."""
    handlers = {
        "Connect": grpc.stream_stream_rpc_method_handler(
            connect,
            request_deserializer=wpb.ConnectRequest.FromString,
            response_serializer=serialize_response,
        )
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)
