"""Group commit for TriggerEvent: events that arrive together share one
transaction, so a burst of 10,000 calls costs tens of transactions, not
10,000. A lone event is not delayed: the batch is whatever queued up while
the previous one was being written."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from cronstream_server.background import Background
from cronstream_server.core.errors import DomainError
from cronstream_server.core.events import Delivered, Event
from cronstream_server.core.ports import EventDeliveryStore

log = logging.getLogger(__name__)

MAX_BATCH = 500


@dataclass
class _Pending:
    event: Event
    done: asyncio.Future[Delivered]


class EventBatcher:
    def __init__(self, store: EventDeliveryStore, max_batch: int = MAX_BATCH) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._loop = Background("event-batcher", self._run)

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        while not self._queue.empty():  # callers still waiting get an answer
            self._queue.get_nowait().done.cancel()

    async def deliver(self, event: Event) -> Delivered:
        """The event's executions, written with whatever else is queued."""
        done: asyncio.Future[Delivered] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(event, done))
        return await done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write(batch)

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            results = await self._store.deliver([p.event for p in batch])
        except DomainError as error:
            if len(batch) > 1:  # one bad event must not fail the others
                for pending in batch:
                    await self._write([pending])
                return
            _settle(batch[0], error=error)
            return
        except Exception as error:  # reported to every caller, logged once
            log.exception("writing %d events failed", len(batch))
            for pending in batch:
                _settle(pending, error=error)
            return
        for pending, result in zip(batch, results, strict=True):
            _settle(pending, result=result)


def _settle(
    pending: _Pending, result: Delivered | None = None, error: BaseException | None = None
) -> None:
    if pending.done.done():  # the caller went away
        return
    if error is not None:
        pending.done.set_exception(error)
    elif result is not None:
        pending.done.set_result(result)
