"""The reaper: one per replica, safe with several (it claims rows with SKIP LOCKED).

Every `interval` it returns running executions whose lease ran out (their
worker went silent: process killed, network cut) to pending as a new
attempt, and settles executions past their deadline: retried with backoff
while retries remain, else `timeout`. Either way the worker that may still
run the attempt is told to cancel it, through the `cancel` signal, so the
replica holding its stream hears of it wherever the reaper ran.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta

from cronstream_server.background import Background, log_loop_failure
from cronstream_server.core.dispatch import Reaped
from cronstream_server.core.ports import DispatchStore, Signals
from cronstream_server.core.signals import CANCEL, WORK
from cronstream_server.engine.session import Cancel

log = logging.getLogger(__name__)

REASON_LEASE_LOST = "lease lost"
REASON_TIMEOUT = "timeout"


def cancel_message(execution_id: str, reason: str) -> str:
    """The `cancel` signal's message: the execution id, then optionally a
    space and the reason the worker is told (a plain id means "cancelled")."""
    return f"{execution_id} {reason}"


def parse_cancel(message: str) -> Cancel:
    execution_id, _, reason = message.partition(" ")
    return Cancel(execution_id, reason or "cancelled")


class Reaper:
    def __init__(
        self,
        store: DispatchStore,
        signals: Signals,
        interval: float,
        retry_cap: timedelta,
        rng: random.Random,
        batch_size: int = 500,
    ) -> None:
        self._store = store
        self._signals = signals
        self._interval = interval
        self._retry_cap = retry_cap
        self._rng = rng
        self._batch_size = batch_size
        self._loop = Background("reaper", self._run)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        while True:
            try:
                reaped = await self.reap_once()
                full = max(len(reaped.expired), len(reaped.timed_out)) >= self._batch_size
                if full:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log_loop_failure(log, "reaper pass failed", error)
            await asyncio.sleep(self._interval)

    async def reap_once(self) -> Reaped:
        reaped = await self._store.reap(self._batch_size, self._rng, self._retry_cap)
        for execution_id, _ in reaped.expired:
            await self._signals.publish(CANCEL, cancel_message(execution_id, REASON_LEASE_LOST))
        for settled in reaped.timed_out:
            await self._signals.publish(CANCEL, cancel_message(settled.held.id, REASON_TIMEOUT))
        for platform_id in sorted({platform_id for _, platform_id in reaped.expired}):
            await self._signals.publish(WORK, platform_id)
        if reaped.expired or reaped.timed_out:
            log.info(
                "reaped %d expired leases, %d executions past their deadline",
                len(reaped.expired),
                len(reaped.timed_out),
            )
        return reaped
