"""What a worker owes the server, across sessions of its stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from cronstream.v1 import worker_service_pb2 as wpb

# How long a result waits for its acknowledgement. Past it the server has long
# fenced the attempt (its lease expired and the execution was retried), so
# re-sending it, or naming it in hello.running, would only hold a lease that
# belongs to someone else.
RESULT_RETENTION = 600.0


@dataclass(slots=True)
class _Held:
    attempt: int
    cancel: Callable[[str], None]


@dataclass(slots=True)
class _Owed:
    result: wpb.WorkerResult
    since: float


class Ledger:
    """Attempts still running (assigned, no result yet) and results not yet
    acknowledged, by execution id. A new session names both in its hello and
    re-sends the results, so a session can end at any moment. Used from one
    event loop; no method awaits except `wait_idle`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._running: dict[str, _Held] = {}
        self._results: dict[str, _Owed] = {}
        self._changed = asyncio.Event()

    def begin(self, execution_id: str, attempt: int, cancel: Callable[[str], None]) -> bool:
        """Records an assigned attempt. False for a repeated assignment of an
        attempt already running; a newer attempt supersedes an older one,
        which is cancelled and whose result will be dropped."""
        held = self._running.get(execution_id)
        if held is not None:
            if held.attempt >= attempt:
                return False
            held.cancel("superseded by a newer attempt")
        owed = self._results.get(execution_id)
        if owed is not None and owed.result.attempt < attempt:
            del self._results[execution_id]  # the server has moved on
        self._running[execution_id] = _Held(attempt, cancel)
        self._notify()
        return True

    def finish(self, result: wpb.WorkerResult) -> bool:
        """Turns a running attempt into a result awaiting acknowledgement.
        False, dropping it, when its attempt is no longer the one held."""
        held = self._running.get(result.execution_id)
        if held is None or held.attempt != result.attempt:
            return False
        del self._running[result.execution_id]
        self._results[result.execution_id] = _Owed(result, self._clock())
        self._notify()
        return True

    def ack(self, execution_id: str) -> None:
        if self._results.pop(execution_id, None) is not None:
            self._notify()

    def cancel(self, execution_id: str, reason: str) -> bool:
        """Cancels a running attempt; False if it is not running."""
        held = self._running.get(execution_id)
        if held is not None:
            held.cancel(reason)
        return held is not None

    def cancel_all(self, reason: str) -> None:
        for held in list(self._running.values()):
            held.cancel(reason)

    def running_count(self) -> int:
        """How many attempts run. Unlike `counts` it expires nothing, so the
        writer can ask it for every batch of results at no cost."""
        return len(self._running)

    def running_ids(self) -> list[str]:
        """The running executions, for heartbeats."""
        return sorted(self._running)

    def held(self) -> list[wpb.RunningExecution]:
        """Every attempt the worker answers for, running or awaiting its
        acknowledgement, for hello.running."""
        self._expire()
        running = [
            wpb.RunningExecution(execution_id=i, attempt=h.attempt)
            for i, h in self._running.items()
        ]
        owed = [
            wpb.RunningExecution(execution_id=i, attempt=o.result.attempt)
            for i, o in self._results.items()
        ]
        return running + owed

    def unacked(self) -> list[wpb.WorkerResult]:
        self._expire()
        return [owed.result for owed in self._results.values()]

    def counts(self) -> tuple[int, int]:
        """How many attempts run, and how many results await acknowledgement."""
        self._expire()
        return len(self._running), len(self._results)

    def idle(self) -> bool:
        """Whether the worker owes the server nothing."""
        return self.counts() == (0, 0)

    async def wait_idle(self) -> None:
        while not self.idle():
            changed = self._changed
            await changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _expire(self) -> None:
        cutoff = self._clock() - RESULT_RETENTION
        for execution_id in [i for i, o in self._results.items() if o.since < cutoff]:
            del self._results[execution_id]
