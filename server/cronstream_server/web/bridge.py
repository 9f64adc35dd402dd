"""The gRPC-web bridge: each browser call forwarded to a gRPC server as it came.

Requests and replies cross as bytes (no serializers on the channel): the
bridge never parses a message, so the servers' own decoding, validation,
authentication, tenancy and error details are what the browser gets. Replies
are 200 with the message frames and a trailer frame; a call refused before it
is forwarded gets a trailers-only reply (the status in the headers).

Two servers take the calls: the reads of `methods.READS` go to the read server
in this process (read_server.py), the rest to the server that fires the
executions, whose event loop the bridge spares (CALL_SHARE).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc
from aiohttp import web

from cronstream_server.web.call_headers import BadTimeout, call_metadata, call_timeout
from cronstream_server.web.framing import (
    HEADER,
    FramingError,
    data_frame,
    single_message,
    status_trailers,
    trailer_frame,
)
from cronstream_server.web.methods import READS, Kind, method_kinds

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/grpc-web+proto"
ACCEPTED_TYPES = ("application/grpc-web", "application/grpc-web+proto")
_READ_CHUNK = 64 * 1024
# Unary calls forwarded to the server at once; the others wait their turn here.
# A burst of page loads then holds one of the database pool's connections (30)
# and one database backend: unbounded, 1,000 page loads 50 at a time left W2
# firings over a minute late (docs/benchmarks.md). Streams are not counted:
# they wait, they do not work.
CALLS_IN_FLIGHT = 1
# The share of the time the turn may spend in forwarded calls: after a call
# that took t, the turn rests t * (1 / share - 1) before the next call may take
# it. Bounding how many calls run is not enough: a turn kept busy back to back
# by a burst keeps the server's event loop busy too, between the engine's
# timers (2 turns at half the time: W2's p99 3.7-4.6x its value alone; 1 turn
# at a quarter: its p50 and p95 as in quiet windows, docs/benchmarks.md). The
# page that made a call gets its reply at once; only the next caller waits.
# Reads (the pages) do not take this turn: they go to the read server.
CALL_SHARE = 0.25
# Reads answered at once by the read server: one, like the calls forwarded.
# During 1,000 page loads, 2 at once left W2's p99 1.6-6x its quiet windows
# (once 45x); 1 at once, 1.0-1.2x, and the 1,000 pages took less time, not
# more (40-49 s; docs/benchmarks.md).
READS_IN_FLIGHT = 1


class Refused(Exception):
    """A call answered by the bridge itself, never forwarded."""

    def __init__(self, code: grpc.StatusCode, message: str, http_status: int = 200) -> None:
        super().__init__(message)
        self.code, self.message, self.http_status = code, message, http_status


@dataclass(frozen=True)
class Forwarded:
    """A call as it goes to the gRPC server."""

    path: str
    kind: Kind
    message: bytes
    metadata: tuple[tuple[str, str], ...]
    seconds: float | None  # its deadline, from grpc-timeout


class Bridge:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        max_message_bytes: int,
        calls_in_flight: int = CALLS_IN_FLIGHT,
        call_share: float = CALL_SHARE,
        reads: grpc.aio.Channel | None = None,
    ) -> None:
        """Forwards to the server on `channel`, and the reads to `reads` when given."""
        self._channel = channel
        self._reads = reads
        self._turns = asyncio.Semaphore(calls_in_flight)
        self._read_turns = asyncio.Semaphore(READS_IN_FLIGHT)
        self._rest_per_busy = 1 / call_share - 1
        self._kinds = method_kinds()
        self._max_body = max_message_bytes + HEADER.size
        self._open: set[grpc.aio.Call] = set()
        self._closing = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            forwarded = await self._accept(request)
        except Refused as refused:
            return _trailers_only(refused)
        if forwarded.kind is Kind.UNARY:
            return await self._unary(forwarded)
        return await self._stream(request, forwarded)

    @property
    def open_streams(self) -> int:
        return len(self._open)

    async def close(self) -> None:
        """Ends the open streams (the HTTP port is closing): each gets UNAVAILABLE."""
        self._closing = True
        for call in list(self._open):
            call.cancel()

    async def _accept(self, request: web.Request) -> Forwarded:
        kind = self._kinds.get(request.path)
        if kind is None:
            raise Refused(
                grpc.StatusCode.UNIMPLEMENTED,
                f"{request.path} is not served over gRPC-web (workers use the gRPC port)",
                404,
            )
        if request.content_type not in ACCEPTED_TYPES:
            raise Refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"content type {request.content_type!r}: only {CONTENT_TYPE} is served",
                415,
            )
        body = await _read_body(request, self._max_body)
        try:
            message = single_message(body)
            seconds = call_timeout(request.headers)
        except (FramingError, BadTimeout) as error:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None
        return Forwarded(request.path, kind, message, call_metadata(request.headers), seconds)

    async def _unary(self, forwarded: Forwarded) -> web.Response:
        if self._reads is not None and forwarded.path in READS:
            async with self._read_turns:
                return await _call(self._reads, forwarded)
        loop = asyncio.get_running_loop()
        await self._turns.acquire()
        began = loop.time()
        try:
            return await _call(self._channel, forwarded)
        finally:
            rest = (loop.time() - began) * self._rest_per_busy
            loop.call_later(rest, self._turns.release)

    async def _stream(self, request: web.Request, forwarded: Forwarded) -> web.StreamResponse:
        """Frame by frame as the server sends them, until the call ends, the
        browser goes away (aiohttp cancels this handler) or the port closes."""
        method: grpc.aio.UnaryStreamMultiCallable[bytes, bytes]
        method = self._channel.unary_stream(forwarded.path)
        call = method(forwarded.message, metadata=forwarded.metadata, timeout=forwarded.seconds)
        response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE})
        self._open.add(call)
        try:
            await response.prepare(request)
            trailers = await self._relay(call, response)
            await response.write(trailer_frame(trailers))
            await response.write_eof()
        except ConnectionResetError:
            log.debug("the browser left %s", request.path)
        finally:
            self._open.discard(call)
            call.cancel()
        return response

    async def _relay(
        self, call: grpc.aio.UnaryStreamCall[bytes, bytes], response: web.StreamResponse
    ) -> list[tuple[str, str]]:
        try:
            async for reply in call:
                await response.write(data_frame(reply))
        except grpc.aio.AioRpcError as error:
            return _error_trailers(error)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self._closing or (task is not None and task.cancelling()):
                raise
            code = grpc.StatusCode.UNAVAILABLE.value[0]
            return status_trailers(code, "the server is shutting down")
        return status_trailers(0, "")


async def _call(channel: grpc.aio.Channel, forwarded: Forwarded) -> web.Response:
    # No serializers: bytes in, bytes out.
    method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(forwarded.path)
    call = method(forwarded.message, metadata=forwarded.metadata, timeout=forwarded.seconds)
    try:
        reply: bytes = await call
    except grpc.aio.AioRpcError as error:
        return _reply(trailer_frame(_error_trailers(error)))
    finally:
        call.cancel()  # a no-op once done; ends the call if the browser went away
    return _reply(data_frame(reply) + trailer_frame(status_trailers(0, "")))


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refused past `limit` bytes as gRPC refuses a large message."""
    too_large = Refused(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"the request is larger than the {limit - HEADER.size} bytes a message may have",
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    while chunk := await request.content.read(_READ_CHUNK):
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _error_trailers(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    metadata = error.trailing_metadata() or ()
    return status_trailers(error.code().value[0], error.details() or "", metadata)


def _reply(body: bytes) -> web.Response:
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def _trailers_only(refused: Refused) -> web.Response:
    trailers = status_trailers(refused.code.value[0], refused.message)
    return web.Response(
        status=refused.http_status, headers={"Content-Type": CONTENT_TYPE, **dict(trailers)}
    )
