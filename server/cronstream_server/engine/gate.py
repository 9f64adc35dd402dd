"""The gate: releases slots that waited for their dependencies, or skips them
as missed once their wait is over (core.dependencies says which); and
releases backfilled executions when their time and turn come (core.release).

One per replica, safe with several: each pass is a GateStore transaction
that locks the waiting executions it judges (SKIP LOCKED) and writes only to
rows still WAITING, so a slot is released or skipped exactly once. It passes
at the next backfilled release time, at most `interval` apart, and at once
when woken: by a `jobs` signal (an UpdateJob may have dropped a
dependency) or a `release` one (a backfill began, or a ticker fired waiting
slots), and by `settled()` (this replica's worker hub stored results) while
its last pass saw anything waiting. A lost wake-up costs up to `interval` of
latency, never a slot.

A result matters to the gate only while something waits: a stream of
results would otherwise cost two transactions a pass, up to 1/min_gap
passes a second, that find nothing (W1 spent a third of its transactions
so). Whatever begins to wait wakes every gate (the ticker's `release`
signal, over Redis between replicas); without Redis, another replica's
gate sees it at its next fallback pass, and from then on passes at its
own results too.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from cronstream_server.background import Background, log_loop_failure, wait_set
from cronstream_server.core import release as release_rules
from cronstream_server.core.dependencies import Gated, plan
from cronstream_server.core.firing import skip_reason
from cronstream_server.core.ports import GateStore, Signals
from cronstream_server.core.signals import DUE, JOBS, RELEASE, WORK
from cronstream_server.telemetry.logs import log_ids
from cronstream_server.telemetry.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateSettings:
    interval: float = 1.0  # the fallback poll
    # Passes are at least this far apart, however often it is woken: a busy
    # stream of results wakes it for every batch.
    min_gap: float = 0.05
    batch_size: int = 500  # waiting executions judged per transaction


class Gate:
    def __init__(
        self,
        store: GateStore,
        signals: Signals,
        metrics: Metrics | None = None,
        settings: GateSettings = GateSettings(),
    ) -> None:
        self._store = store
        self._signals = signals
        self._metrics = metrics or Metrics(enabled=False)
        self._settings = settings
        self._wake = asyncio.Event()
        self._loop = Background("gate", self._run)
        self._stop_jobs = signals.listen(JOBS, lambda _: self.wake())
        self._stop_release = signals.listen(RELEASE, lambda _: self.wake())
        self._next_release: float | None = None  # on the loop's clock
        # The last pass saw executions waiting (or no pass has run): stored
        # results may release some of them.
        self._waiting = True

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        self._stop_jobs()
        self._stop_release()
        await self._loop.stop()

    def wake(self) -> None:
        """Pass now: slots began to wait, or what they wait for changed."""
        self._wake.set()

    def settled(self) -> None:
        """Results were stored: pass now if anything was waiting, which a
        finished execution may release (a dependency succeeded, or a
        BUFFER_ONE backfill's turn came)."""
        if self._waiting:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before the pass: a wake-up during it counts
            try:
                await self.pass_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log_loop_failure(log, "gate pass failed", error)
            await asyncio.sleep(self._settings.min_gap)
            await wait_set(self._wake, self._until_next())

    def _until_next(self) -> float:
        """Seconds to the next release time, at most `interval`."""
        if self._next_release is None:
            return self._settings.interval
        left = self._next_release - asyncio.get_running_loop().time()
        return min(self._settings.interval, max(0.0, left))

    async def pass_once(self) -> int:
        """Judges every waiting execution, a page per transaction; returns how
        many it looked at."""
        judged, still = await self._judge()
        released, backfilling = await self._release()
        self._waiting = still > 0 or backfilling
        return judged + released

    async def _judge(self) -> tuple[int, int]:
        """Returns how many waiting slots it looked at, and how many of
        them still wait."""
        seen = still = 0
        after: tuple[datetime, str] | None = None
        while True:
            gated = await self._store.gate(self._settings.batch_size, after, plan)
            seen += gated.seen
            still += gated.seen - len(gated.plan.released) - len(gated.plan.missed)
            await self._announce(gated)
            if gated.seen < self._settings.batch_size or gated.last is None:
                return seen, still
            after = gated.last

    async def _release(self) -> tuple[int, bool]:
        """Backfilled executions whose time and turn have come; notes the
        next release time the first page saw. Returns how many it looked at,
        and whether any backfill is unfinished (waiting for its time or
        turn, or running: a BUFFER_ONE one's next turn comes with a result)."""
        seen = 0
        backfilling = False
        after: tuple[datetime, str] | None = None
        while True:
            releasing = await self._store.release(
                self._settings.batch_size, after, release_rules.plan
            )
            if after is None:
                self._note_next(releasing)
                backfilling = releasing.backfilling or releasing.next_at is not None
            seen += releasing.seen
            released = releasing.plan.released
            for platform_id in sorted({s.platform_id for s in released}):
                await self._signals.publish(WORK, platform_id)
            if releasing.seen < self._settings.batch_size or releasing.last is None:
                return seen, backfilling
            after = releasing.last

    def _note_next(self, releasing: release_rules.Releasing) -> None:
        if releasing.next_at is None:
            self._next_release = None
            return
        delay = (releasing.next_at - releasing.now).total_seconds()
        self._next_release = asyncio.get_running_loop().time() + delay

    async def _announce(self, gated: Gated) -> None:
        released = gated.plan.released
        for platform_id in sorted({r.slot.platform_id for r in released if r.due_at <= gated.now}):
            await self._signals.publish(WORK, platform_id)
        later = [r.due_at for r in released if r.due_at > gated.now]
        if later:
            await self._signals.publish(DUE, min(later).isoformat())
        missed = gated.plan.missed
        self._metrics.slots_skipped(
            (m.slot.platform_id, m.slot.handler_name, skip_reason(m.reason)) for m in missed
        )
        for m in missed:
            slot = m.slot
            ids = log_ids(platform_id=slot.platform_id, job_id=slot.job_id, execution_id=slot.id)
            log.info("slot skipped: %s", m.reason, extra=ids)
