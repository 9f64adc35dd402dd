"""The event use cases: event handlers (one EventStore call each) and
TriggerEvent, whose deliveries are batched with other calls' into one
transaction by the engine's event batcher."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from cronstream_server.core.events import Event, EventHandler
from cronstream_server.core.ports import EventStore
from cronstream_server.core.signals import WorkReady
from cronstream_server.service.outcome import Outcome


class Delivery(Protocol):
    """What delivering one event did."""

    @property
    def execution_ids(self) -> Sequence[str]: ...

    @property
    def created(self) -> bool:
        """False for a repeated request id: the ids are the first call's."""
        ...


class EventUseCases:
    def __init__(
        self,
        events: EventStore,
        deliver: Callable[[Event], Awaitable[Delivery]],
        now: Callable[[], datetime],
    ) -> None:
        self._events = events
        self._deliver = deliver
        self._now = now

    async def create_handler(self, handler: EventHandler) -> Outcome[EventHandler]:
        return Outcome(await self._events.create_handler(handler))

    async def update_handler(
        self, platform_id: str, handler_id: str, change: Callable[[EventHandler], EventHandler]
    ) -> Outcome[EventHandler]:
        return Outcome(await self._events.update_handler(platform_id, handler_id, change))

    async def delete_handler(self, platform_id: str, handler_id: str) -> Outcome[None]:
        await self._events.delete_handler(platform_id, handler_id)
        return Outcome(None)

    async def trigger(self, event: Event) -> Outcome[list[str]]:
        """The executions the event's listeners get (or, for a repeated
        request id, those the first call created)."""
        delivered = await self._deliver(event)
        ids = list(delivered.execution_ids)
        fresh = delivered.created and ids
        return Outcome(ids, (WorkReady(event.platform_id),) if fresh else ())
