"""Group writes that arrive close together into one transaction, and never
lose one the server has received.

A result, a log line or a heartbeat is small; a transaction per item would
make the database's round trips the limit. A `Batcher` waits `linger`
seconds after the first item (or until `max_items`) and writes what came
meanwhile in one call, so throughput grows with the number of workers.

Faults: a write that fails because the database is unreachable
(`Unavailable`) is retried, with a growing pause, until the database is back:
however long the outage, what was queued is written then, in order. Memory
stays bounded because `put` waits while `max_items_queued` items or
`max_bytes_queued` bytes are waiting (or being written), which stops the
worker stream that produced them from reading more: gRPC's flow control then
pushes back on the worker. Any other failure is a bug or a value the database
refuses; the batch is split in halves until the item at fault is alone, and
only that one is given up (logged with the error), so one bad item never
costs the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from cronstream_server.background import Background
from cronstream_server.core.errors import Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# Pauses between tries of a write while the database is unreachable: short at
# first (a restart takes a second or two), then every few seconds.
_FIRST_PAUSE = 0.1
_MAX_PAUSE = 2.0


def _one(_: object) -> int:
    return 1


class Batcher(Generic[T]):
    def __init__(
        self,
        name: str,
        write: Callable[[list[T]], Awaitable[None]],
        linger: float,
        max_items: int = 500,
        max_items_queued: int = 10_000,
        max_bytes_queued: int = 64 * 1024 * 1024,
        weigh: Callable[[T], int] = _one,
    ) -> None:
        self._name = name
        self._write = write
        self._linger = linger
        self._max_items = max_items
        self._max_items_queued = max_items_queued
        self._max_bytes_queued = max_bytes_queued
        self._weigh = weigh
        self._queue: asyncio.Queue[tuple[T, int] | asyncio.Future[None]] = asyncio.Queue()
        # Items (and their bytes) put and not yet written or given up.
        self._items_held = 0
        self._bytes_held = 0
        self._room = asyncio.Event()
        self._room.set()
        self._loop = Background(f"batcher-{name}", self._run)

    def start(self) -> None:
        self._loop.start()

    @property
    def pending(self) -> int:
        """Items received and not yet written."""
        return self._items_held

    async def stop(self, grace: float = 5.0) -> None:
        """Writes what is queued (for up to `grace` seconds), then stops."""
        if not self._loop.running:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.flush()
        if self._items_held:
            log.warning(
                "%s: stopping with %d items not written (the database is unreachable); "
                "the workers were not acknowledged and will send them again",
                self._name,
                self._items_held,
            )
        await self._loop.stop()

    async def put(self, item: T) -> None:
        """Queues an item; waits while the queue is full, by count or by bytes
        (back-pressure on the stream that produced it). An item larger than
        the whole byte budget still goes, alone."""
        weight = self._weigh(item)
        while self._items_held and (
            self._items_held >= self._max_items_queued
            or self._bytes_held + weight > self._max_bytes_queued
        ):
            self._room.clear()
            await self._room.wait()
        self._items_held += 1
        self._bytes_held += weight
        self._queue.put_nowait((item, weight))

    async def flush(self) -> None:
        """Returns once every item queued before the call has been written
        (or given up as unwritable)."""
        if not self._loop.running:
            return
        marker: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(marker)
        await marker

    async def _run(self) -> None:
        while True:
            batch, markers = await self._collect()
            if batch:
                await self._write_splitting([item for item, _ in batch])
                self._items_held -= len(batch)
                self._bytes_held -= sum(weight for _, weight in batch)
                self._room.set()
            for marker in markers:
                if not marker.done():
                    marker.set_result(None)

    async def _collect(self) -> tuple[list[tuple[T, int]], list[asyncio.Future[None]]]:
        batch: list[tuple[T, int]] = []
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
                # What is queued already (a worker's batch of results arrives
                # as many items at once) is taken without setting a timer:
                # one per item was a tenth of the batcher's time.
                item = self._queue.get_nowait()
                continue
            except asyncio.QueueEmpty:
                pass
            try:
                async with asyncio.timeout(remaining):
                    item = await self._queue.get()
            except TimeoutError:
                return batch, markers

    async def _write_splitting(self, batch: list[T]) -> None:
        """Writes the batch; a failure that is not an outage is narrowed down
        to the item at fault by halves."""
        try:
            await self._write_until_reachable(batch)
        except Exception as error:
            if len(batch) == 1:
                log.error("%s: giving up an item the database refuses: %r", self._name, error)
                return
            log.warning(
                "%s: a batch of %d failed (%r); splitting it", self._name, len(batch), error
            )
            half = len(batch) // 2
            await self._write_splitting(batch[:half])
            await self._write_splitting(batch[half:])

    async def _write_until_reachable(self, batch: list[T]) -> None:
        """Every write here is safe to repeat: the transaction that failed did
        not commit, or (its commit's answer lost with the connection) did, and
        repeats as a no-op for results (fenced by attempt) and heartbeats (an
        extension); a log line may then be stored twice, never lost."""
        pause = _FIRST_PAUSE
        failing_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self._write(batch)
            except Unavailable as error:
                if failing_since is None:
                    failing_since = loop.time()
                    log.warning(
                        "%s: cannot write (%s); holding %d items and retrying until it can",
                        self._name,
                        error.message,
                        self._items_held,
                    )
                await asyncio.sleep(pause)
                pause = min(pause * 2, _MAX_PAUSE)
                continue
            if failing_since is not None:
                log.info(
                    "%s: written after %.1f s of retries",
                    self._name,
                    loop.time() - failing_since,
                )
            return
