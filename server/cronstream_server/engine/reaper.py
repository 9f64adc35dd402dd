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
from collections import defaultdict
from datetime import timedelta

from cronstream_server.background import Background, log_loop_failure
from cronstream_server.core.dispatch import Reaped
from cronstream_server.core.ports import DispatchStore, Signals
from cronstream_server.core.signals import CANCEL, WORK
from cronstream_server.engine.session import Cancel
from cronstream_server.telemetry.logs import listed, log_ids

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
        # Released attempts are pending again; and an ended one may free a
        # place under a concurrency key that executions wait for.
        freed = {platform_id for _, platform_id in reaped.expired}
        freed |= {settled.held.platform_id for settled in reaped.timed_out}
        for platform_id in sorted(freed):
            await self._signals.publish(WORK, platform_id)
        _log(reaped)
        return reaped


def _log(reaped: Reaped) -> None:
    """At INFO one line per platform a pass found expired leases in, and one
    for the timeouts; a line for each execution only at DEBUG."""
    expired: defaultdict[str, list[str]] = defaultdict(list)
    for execution_id, platform_id in reaped.expired:
        expired[platform_id].append(execution_id)
        ids = log_ids(platform_id=platform_id, execution_id=execution_id)
        log.debug("lease expired", extra=ids)
    for platform_id, execution_ids in sorted(expired.items()):
        log.info(
            "lease expired on %d executions (their worker went silent); they are handed out "
            "again while retries remain: %s",
            len(execution_ids),
            listed(execution_ids),
            extra=log_ids(platform_id=platform_id),
        )
    for settled in reaped.timed_out:
        held = settled.held
        ids = log_ids(platform_id=held.platform_id, job_id=held.job_id, execution_id=held.id)
        log.debug("past its deadline: %s", settled.ending.value, extra=ids)
    if reaped.timed_out:
        log.info("%d executions passed their deadline", len(reaped.timed_out))
