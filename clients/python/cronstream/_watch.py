"""`AlertWatch`: WatchAlerts as an async iterator that reconnects by itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Self

from grpc import aio

from cronstream._backoff import Backoff
from cronstream.errors import PERMANENT, CronstreamError, from_rpc_error
from cronstream.models import AlertEvent
from cronstream.v1 import scheduler_service_pb2 as pb

__all__ = ["AlertWatch", "WatchCall"]

WatchCall = aio.UnaryStreamCall[pb.WatchAlertsRequest, pb.WatchAlertsResponse]

# A stream that lived this long starts the backoff over, as the worker's does.
_HEALTHY_STREAM = 1.0


class AlertWatch:
    """The platform's alert events as they happen, in order, each once.

    It holds at most one WatchAlerts stream. When the stream breaks
    (UNAVAILABLE, a server restart, a dropped connection...) it opens another
    after a jittered backoff, resuming after `cursor`, the last event it
    returned, and drops any event it has already returned: across reconnections
    the caller sees every event exactly once. What reconnecting cannot fix
    ends it with the typed error (`UnauthenticatedError`,
    `InvalidArgumentError`, `PermissionDeniedError`, `UnimplementedError`).

    The stream opens on entering `async with`, else at the first read. Cancelling
    a read (`asyncio.timeout` around it, a cancelled task) closes the stream but
    not the watch: the next read reopens it from `cursor`. `aclose()`, or
    leaving `async with`, ends it.

    One state, `_call`: None between streams (the next read opens one from
    `cursor`), else the open stream; `_closed` once it has ended for good.
    """

    def __init__(
        self,
        open_call: Callable[[int], WatchCall],
        *,
        after_cursor: int = 0,
        backoff: Backoff | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        """`open_call(cursor)` opens a WatchAlerts stream after `cursor`."""
        if after_cursor < 0:
            raise ValueError(f"after_cursor must not be negative, not {after_cursor}")
        #: The cursor of the last event returned (or where a watch from now
        #: started, or `after_cursor`): persist it to resume a later watch
        #: where this one stopped.
        self.cursor = after_cursor
        self._open_call = open_call
        self._backoff = backoff or Backoff()
        self._log = logger or logging.getLogger("cronstream.client")
        self._call: WatchCall | None = None
        self._opened_at = 0.0
        self._received = False  # an event came on the current stream
        self._failures = 0
        self._closed = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> AlertEvent:
        while not self._closed:
            call = self._call or self._open()
            try:
                response = await call.read()
            except asyncio.CancelledError:
                self._drop()  # grpc has cancelled the call; the next read reopens
                raise
            except aio.AioRpcError as exc:
                await self._after_break(from_rpc_error(exc))
                continue
            if not isinstance(response, pb.WatchAlertsResponse):  # aio.EOF
                await self._after_break(None)
                continue
            self._received = True
            if not response.HasField("event"):
                # A stream from now says where it starts: resume after that.
                self.cursor = max(self.cursor, response.cursor)
                continue
            if response.event.cursor > self.cursor:
                self.cursor = response.event.cursor
                return AlertEvent.from_proto(response.event)
            # At or before the cursor: returned already, on an earlier stream.
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Ends the watch and its stream; iterating it then stops."""
        self._closed = True
        self._drop()

    async def __aenter__(self) -> Self:
        """Opens the stream now rather than at the first read, so that a watch
        from 0 starts from here."""
        if self._call is None and not self._closed:
            self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _open(self) -> WatchCall:
        self._call = self._open_call(self.cursor)
        self._opened_at = asyncio.get_running_loop().time()
        self._received = False
        return self._call

    def _drop(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None

    async def _after_break(self, error: CronstreamError | None) -> None:
        """The stream ended with `error` (None: cleanly, which a healthy
        server never does): raises what reconnecting cannot fix, else waits
        the backoff, after which the next read reopens."""
        lived = asyncio.get_running_loop().time() - self._opened_at
        self._drop()
        if isinstance(error, PERMANENT):
            self._closed = True
            raise error
        if self._received or lived > _HEALTHY_STREAM:
            self._failures = 0
        delay = self._backoff.delay(self._failures)
        self._failures += 1
        level = logging.INFO if self._failures == 1 else logging.WARNING
        self._log.log(
            level,
            "cronstream: alert stream ended (%s); resuming after cursor %d in %.2f s (try %d)",
            error or "closed by the server",
            self.cursor,
            delay,
            self._failures,
        )
        await asyncio.sleep(delay)
