"""The dispatcher: one per replica, for all of its worker sessions.

Each round asks the sessions for their free slots, claims that many due
executions of their handlers in one transaction (`SqlDispatchStore.claim`:
SKIP LOCKED, so replicas never claim the same row), and hands each to a
session. It runs a round when woken (a `work` signal from any replica, a
freed slot, a new session, a capacity change) and otherwise every
`poll_interval`, so work is found even when a signal is lost or a retry's
backoff ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from cronstream_server.core import dispatch as rules
from cronstream_server.core.dispatch import Pending, Seat, Start
from cronstream_server.engine.background import Background, wait_set
from cronstream_server.engine.session import Session
from cronstream_server.engine.tracing import ExecutionTracer
from cronstream_server.store.dispatch import SqlDispatchStore

log = logging.getLogger(__name__)

_ERROR_PAUSE = 1.0


class Dispatcher:
    def __init__(
        self,
        store: SqlDispatchStore,
        sessions: Callable[[], Sequence[Session]],
        lease: timedelta,
        tracer: ExecutionTracer,
        poll_interval: float = 1.0,
        batch_size: int = 1000,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._lease = lease
        self._tracer = tracer
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._loop = Background("dispatcher", self._run)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                if await self.round():
                    continue  # more may be due: go again before sleeping
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatch round failed; retrying in %ss", _ERROR_PAUSE)
                await asyncio.sleep(_ERROR_PAUSE)
            await wait_set(self._wake, self._poll_interval)

    async def round(self) -> int:
        """Claims and hands out what the free slots can take; returns how many."""
        seats = [session.seat() for session in self._sessions() if session.free > 0]
        wants = rules.wants(seats, self._batch_size)
        if not wants:
            return 0
        starts = await self._store.claim(wants, lambda found, now: self._decide(found, now, seats))
        await self._deliver(starts)
        return len(starts)

    def _decide(self, candidates: list[Pending], now: datetime, seats: list[Seat]) -> list[Start]:
        """Runs inside the claim's transaction: lease and deadline count from
        the database's now."""
        return [
            Start(
                execution=execution,
                session_id=seat.session_id,
                worker_id=seat.worker_id,
                started_at=now,
                lease_expires_at=now + self._lease,
                deadline_at=now + execution.timeout,
                trace=self._tracer.stamp(execution),
            )
            for execution, seat in rules.plan(candidates, seats)
        ]

    async def _deliver(self, starts: list[Start]) -> None:
        by_id = {session.id: session for session in self._sessions()}
        undelivered: list[tuple[str, int]] = []
        for start in starts:
            session = by_id.get(start.session_id)
            if session is None or not session.hand(start):
                undelivered.append((start.execution.id, start.execution.attempt))
        if undelivered:
            # The session closed or shrank while the claim ran.
            await self._store.release_attempts(undelivered)
            self.wake()
