"""Group writes that arrive close together into one transaction.

A result, a log line or a heartbeat is small; a transaction per item would
make the database's round trips the limit. A `Batcher` waits `linger`
seconds after the first item (or until `max_items`) and writes what came
meanwhile in one call, so throughput grows with the number of workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from cronstream_server.engine.background import Background

log = logging.getLogger(__name__)

T = TypeVar("T")

_RETRIES = 3
_RETRY_PAUSE = 0.2


class Batcher(Generic[T]):
    def __init__(
        self,
        name: str,
        write: Callable[[list[T]], Awaitable[None]],
        linger: float,
        max_items: int = 500,
        max_queued: int = 10_000,
    ) -> None:
        self._name = name
        self._write = write
        self._linger = linger
        self._max_items = max_items
        self._queue: asyncio.Queue[T | asyncio.Future[None]] = asyncio.Queue(max_queued)
        self._loop = Background(f"batcher-{name}", self._run)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Writes what is queued, then stops."""
        if not self._loop.running:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5.0):
                await self.flush()
        await self._loop.stop()

    async def put(self, item: T) -> None:
        """Queues an item; waits while the queue is full (back-pressure on the
        stream that produced it)."""
        await self._queue.put(item)

    async def flush(self) -> None:
        """Returns once every item queued before the call has been written."""
        if not self._loop.running:
            return
        marker: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put(marker)
        await marker

    async def _run(self) -> None:
        while True:
            batch, markers = await self._collect()
            if batch:
                await self._write_with_retries(batch)
            for marker in markers:
                if not marker.done():
                    marker.set_result(None)

    async def _collect(self) -> tuple[list[T], list[asyncio.Future[None]]]:
        batch: list[T] = []
        markers: list[asyncio.Future[None]] = []
        first = await self._queue.get()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._linger
        item = first
        while True:
            if isinstance(item, asyncio.Future):
                markers.append(item)
                return batch, markers  # someone waits: write now
            batch.append(item)
            remaining = deadline - loop.time()
            if len(batch) >= self._max_items or remaining <= 0:
                return batch, markers
            try:
                async with asyncio.timeout(remaining):
                    item = await self._queue.get()
            except TimeoutError:
                return batch, markers

    async def _write_with_retries(self, batch: list[T]) -> None:
        """Retries a failed write a few times: a lost database, or a deadlock
        Postgres broke by aborting us. Every write here is safe to repeat (the
        transaction that failed did not commit, and results are fenced)."""
        for attempt in range(1, _RETRIES + 1):
            try:
                await self._write(batch)
                return
            except Exception as error:
                if attempt == _RETRIES:
                    log.error("%s: dropping %d items: %r", self._name, len(batch), error)
                    return
                log.warning("%s: write failed (%r); retrying", self._name, error)
                await asyncio.sleep(_RETRY_PAUSE * attempt)
