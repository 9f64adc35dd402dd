"""One worker's session: what it serves, what it holds, what it is owed.

States: ACTIVE (takes assignments) -> DRAINING (the server is shutting down:
no new assignments, results still welcome) -> CLOSED (ended; everything it
still held is released by the hub). ACTIVE may also go straight to CLOSED.

Flow control: a session holds at most `slots` attempts. An attempt stops
holding a slot when its result is applied, or, once the server cancelled it,
when the worker confirms (its result, or a heartbeat that no longer lists
it), or at the latest one lease duration after the cancel, so a worker that
silently drops a cancelled attempt does not lose the slot for good.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cronstream_server.background import wait_set
from cronstream_server.core.dispatch import Seat, Start


class State(enum.Enum):
    ACTIVE = "active"
    DRAINING = "draining"
    CLOSED = "closed"


class End(enum.Enum):
    """Why a session closed."""

    WORKER_LEFT = "worker left"  # the worker ended its side of the stream, or vanished
    DRAINED = "drained"  # the server is shutting down
    REVOKED = "revoked"  # the key that opened the stream was revoked, or its platform deleted

    @property
    def why(self) -> str:
        """For the log line of a session that ended so, when nothing more is known."""
        return _WHY[self]


_WHY = {
    End.WORKER_LEFT: "the worker left",
    End.DRAINED: "the server is shutting down",
    End.REVOKED: "its API key was revoked or its platform deleted",
}


@dataclass(frozen=True, slots=True)
class Hello:
    """A worker's first message, parsed and checked."""

    worker_id: str
    handler_names: frozenset[str]
    slots: int
    running: tuple[tuple[str, int], ...] = ()
    accepts_batches: bool = False
    # The worker starts each assignment at its start_at itself (only with
    # batches: the instant is read from an `assignments` message).
    holds_until_start: bool = False


@dataclass(frozen=True, slots=True)
class Welcome:
    session_id: str
    heartbeat_interval: timedelta
    lease_duration: timedelta


@dataclass(frozen=True, slots=True)
class Cancel:
    execution_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Ack:
    execution_id: str


@dataclass(frozen=True, slots=True)
class Drain:
    pass


@dataclass(frozen=True, slots=True)
class Prepared:
    """An assignment with its wire message built when it was claimed (by the
    session's `prepare`), so that its instant costs only the send; `size` is
    that message's size in bytes, counted against the session's outbox."""

    start: Start
    message: Any
    size: int = 0


# The most bytes of assignments a session keeps built and not yet written to
# its worker. A worker that stops reading (gRPC flow control holds the writes)
# gets no more assignments past this: memory stays bounded whatever its slots.
MAX_UNSENT_BYTES = 8 * 1024 * 1024


Outgoing = Welcome | Start | Prepared | Cancel | Ack | Drain


@dataclass(slots=True)
class _Instant:
    """Assignments held back until one instant (time.monotonic's `deadline`)."""

    deadline: float
    timer: asyncio.TimerHandle
    messages: dict[str, Start | Prepared] = field(default_factory=dict)


@dataclass(slots=True)
class _Held:
    attempt: int
    cancelled_at: float | None = None
    # It counts against a concurrency key: its end may let a waiting
    # execution of the key start, on any replica.
    keyed: bool = False


class Session:
    def __init__(
        self,
        session_id: str,
        platform_id: str,
        hello: Hello,
        welcome: Welcome,
        on_slot_freed: Callable[[], None],
        prepare: Callable[[Start], tuple[Any, int]] | None = None,
        key_id: str = "",
    ) -> None:
        """`prepare` builds an assignment's wire message and tells its size."""
        self.id = session_id
        self.platform_id = platform_id
        self.key_id = key_id  # the API key that opened the stream
        self.worker_id = hello.worker_id
        self.handler_names = hello.handler_names
        self.slots = hello.slots
        self.accepts_batches = hello.accepts_batches
        self.holds_until_start = hello.holds_until_start and hello.accepts_batches
        self.state = State.ACTIVE
        self.connected_at = datetime.now(UTC)
        # time.time() of the last message received: kept in memory, written
        # to the cluster's registry by its periodic report only (one clock
        # read per message, no database write).
        self.last_seen = time.time()
        self.end: End | None = None
        self.why = ""  # what the log says of the end (see `close`)
        self._welcome = welcome
        self._held: dict[str, _Held] = {}
        # Held, not sent yet: what leaves at each instant.
        self._instants: dict[datetime, _Instant] = {}
        self._outbox: asyncio.Queue[Outgoing | None] = asyncio.Queue()
        self._outbox.put_nowait(welcome)
        self._closed = asyncio.Event()
        self._on_slot_freed = on_slot_freed
        self._prepare = prepare
        self._unsent_bytes = 0

    # --- what the dispatcher sees -------------------------------------------

    @property
    def free(self) -> int:
        if self.state is not State.ACTIVE or self._unsent_bytes >= MAX_UNSENT_BYTES:
            return 0
        return max(0, self.slots - len(self._held))

    @property
    def unsent_bytes(self) -> int:
        return self._unsent_bytes

    @property
    def in_use(self) -> int:
        """Slots held: attempts sent or about to be, and cancelled ones the
        worker has not confirmed yet."""
        return len(self._held)

    @property
    def idle(self) -> bool:
        return not self._held

    def seat(self) -> Seat:
        return Seat(self.id, self.worker_id, self.platform_id, self.handler_names, self.free)

    def holds(self, execution_id: str) -> bool:
        return execution_id in self._held

    def keyed(self, execution_id: str) -> bool:
        """Whether the execution it runs carries a concurrency key (False
        for one adopted after a reconnect: its key is not known here)."""
        held = self._held.get(execution_id)
        return held is not None and held.keyed

    def attempt_of(self, execution_id: str) -> int | None:
        held = self._held.get(execution_id)
        return None if held is None else held.attempt

    def held(self) -> list[tuple[str, int]]:
        return [(execution_id, h.attempt) for execution_id, h in self._held.items()]

    # --- changes --------------------------------------------------------------

    def seen(self) -> None:
        """A message arrived from the worker."""
        self.last_seen = time.time()

    def hand(self, start: Start, delay: float = 0.0) -> bool:
        """Sends an assignment, `delay` seconds from now (an execution claimed
        ahead of its due instant), if a slot is still free (capacity may have
        shrunk, or the session closed, since the claim began). The slot is
        held from now. A worker that holds assignments until their start
        gets it at once: its own timer starts it at the instant, so the start
        does not wait for the message to cross the stream."""
        if self.free <= 0:
            return False
        execution_id = start.execution.id
        keyed = start.execution.keys.concurrency_key is not None
        self._held[execution_id] = _Held(start.execution.attempt, keyed=keyed)
        message = self._prepared(start)
        if delay <= 0.0 or self.holds_until_start:
            self._outbox.put_nowait(message)
            return True
        # One timer per instant: a thousand assignments due together leave
        # together, in the order they were claimed.
        instant = start.started_at
        group = self._instants.get(instant)
        if group is None:
            timer = asyncio.get_running_loop().call_later(delay, self._send_at, instant)
            group = self._instants[instant] = _Instant(time.monotonic() + delay, timer)
        group.messages[execution_id] = message
        return True

    def _prepared(self, start: Start) -> Start | Prepared:
        if self._prepare is None:
            return start
        message, size = self._prepare(start)
        self._unsent_bytes += size
        return Prepared(start, message, size)

    def sent(self, messages: Iterable[Outgoing]) -> None:
        """The worker's stream took these: their bytes leave the outbox."""
        written = sum(m.size for m in messages if isinstance(m, Prepared))
        if written:
            full = self._unsent_bytes >= MAX_UNSENT_BYTES
            self._unsent_bytes -= written
            if full and self._unsent_bytes < MAX_UNSENT_BYTES:
                self._on_slot_freed()  # the dispatcher may hand out again

    def _send_at(self, instant: datetime) -> None:
        group = self._instants.get(instant)
        if group is None:
            return
        remaining = group.deadline - time.monotonic()
        if remaining > 0.0:
            # The event loop's timers may fire up to a millisecond early
            # (they count whole milliseconds): never send before the instant.
            group.timer = asyncio.get_running_loop().call_later(remaining, self._send_at, instant)
            return
        del self._instants[instant]
        for message in group.messages.values():
            self.send(message)

    def adopt(self, attempts: Iterable[tuple[str, int]]) -> None:
        """Attempts re-bound to this session after a reconnect."""
        for execution_id, attempt in attempts:
            self._held[execution_id] = _Held(attempt)

    def finish(self, execution_id: str, attempt: int) -> None:
        """A result for this attempt was applied (or refused): the slot is free."""
        held = self._held.get(execution_id)
        if held is not None and held.attempt == attempt:
            self._release(execution_id)

    def cancel(self, execution_id: str, reason: str) -> None:
        """Tells the worker to stop an attempt; its slot frees on confirmation.
        An assignment not yet sent is simply not sent."""
        for instant, group in self._instants.items():  # a few instants at most
            if (dropped := group.messages.pop(execution_id, None)) is not None:
                self.sent([dropped])  # never will be: its bytes go now
                if not group.messages:
                    group.timer.cancel()
                    del self._instants[instant]
                self._release(execution_id)
                return
        held = self._held.get(execution_id)
        if held is not None and held.cancelled_at is None:
            held.cancelled_at = time.monotonic()
            self.send(Cancel(execution_id, reason))

    def heartbeat(self, listed: Iterable[str]) -> list[str]:
        """The attempts the worker says it still runs; a cancelled one it no
        longer lists has stopped. Returns the listed ids this session holds
        uncancelled, whose leases are to be extended."""
        listed_ids = set(listed)
        stopped = [i for i, h in self._held.items() if h.cancelled_at and i not in listed_ids]
        for execution_id in stopped:
            self._release(execution_id)
        return [i for i in listed_ids if i in self._held and self._held[i].cancelled_at is None]

    def set_capacity(self, slots: int) -> None:
        self.slots = slots
        self._on_slot_freed()

    def send(self, message: Outgoing) -> None:
        if self.state is not State.CLOSED:
            self._outbox.put_nowait(message)

    def drain(self) -> None:
        if self.state is State.ACTIVE:
            self.state = State.DRAINING
            self.send(Drain())
            self._end_if_drained()

    def explain_end(self, why: str) -> None:
        """Why the session is ending, for the log, before whoever closes it
        does; the first reason given stands."""
        self.why = self.why or why

    def close(self, end: End, why: str = "") -> None:
        """`why` says more than `end` does, for the log (see `explain_end`)."""
        if self.state is not State.CLOSED:
            self.why = self.why or why or end.why
            for group in self._instants.values():
                group.timer.cancel()  # still held: the hub hands them back
            self._instants.clear()
            self.state = State.CLOSED
            self.end = end
            self._closed.set()
            self._outbox.put_nowait(None)

    async def outgoing(self) -> Outgoing | None:
        """The next message for the worker; None once the session closed."""
        return await self._outbox.get()

    async def outgoing_ready(self, limit: int) -> list[Outgoing]:
        """Waits for the next message, then takes what else is already queued
        (a dispatch round or a batch of results queues many at once), up to
        `limit`, in order; an empty list once the session closed."""
        first = await self._outbox.get()
        if first is None:
            return []
        ready = [first]
        while len(ready) < limit and not self._outbox.empty():
            message = self._outbox.get_nowait()
            if message is None:  # closed: the next call ends the stream
                self._outbox.put_nowait(None)
                break
            ready.append(message)
        return ready

    async def keep_leases(self) -> None:
        """Until the session closes: frees, once per heartbeat interval, the
        slots of cancelled attempts the worker never confirmed within a lease."""
        period = self._welcome.heartbeat_interval.total_seconds()
        lease = self._welcome.lease_duration.total_seconds()
        while self.state is not State.CLOSED:
            await wait_set(self._closed, period)
            now = time.monotonic()
            for execution_id, held in list(self._held.items()):
                if held.cancelled_at is not None and now - held.cancelled_at > lease:
                    self._release(execution_id)

    def _release(self, execution_id: str) -> None:
        del self._held[execution_id]
        self._on_slot_freed()
        self._end_if_drained()

    def _end_if_drained(self) -> None:
        """A draining session ends once it holds nothing more."""
        if self.state is State.DRAINING and self.idle:
            self.close(End.DRAINED)
