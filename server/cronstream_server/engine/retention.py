"""Retention: one loop per replica deletes finished executions (and their
logs) older than CRONSTREAM_EXECUTION_RETENTION, so the executions table
stops growing once the retention is reached.

A pass deletes batches of `batch_size` rows, one short transaction each,
with a pause between them: it never holds many row locks, nor the SQLite
write lock, for long, and dispatch's transactions get in between. A pass
ends with the first short batch; a pass that hits `max_batches` (a backlog,
such as the first start on a large old table) logs its count and the next
one starts at once. Passes are `interval` apart.

Every replica runs it. Deleting is idempotent, and where the database has
advisory locks one replica at a time deletes (core.ports.RetentionStore), so
several replicas never compete for the same rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import Counter

from cronstream_server.background import Background, log_loop_failure
from cronstream_server.core.ports import RetentionStore
from cronstream_server.core.retention import format_retention

log = logging.getLogger(__name__)

DELETED = Counter(
    "cronstream_executions_deleted",
    "Finished executions deleted by retention (their logs go with them).",
)


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    keep: timedelta  # delete executions that finished longer ago than this
    batch_size: int = 1000  # rows per transaction
    pause: float = 0.1  # seconds between two batches of a pass
    interval: float = 60.0  # seconds between passes
    max_batches: int = 100  # per pass, so a long backlog is logged as it goes


class Retention:
    def __init__(self, store: RetentionStore, settings: RetentionSettings) -> None:
        self._store = store
        self._settings = settings
        self._loop = Background("retention", self._run)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        full_pass = self._settings.batch_size * self._settings.max_batches
        while True:
            try:
                if await self.purge() >= full_pass:
                    continue  # a backlog: keep going, still pausing between batches
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log_loop_failure(log, "retention pass failed", error)
            # asyncio.sleep, not asyncio.wait_for: nothing wakes this loop early,
            # so a cancellation cannot be swallowed (see cronstream_server.background).
            await asyncio.sleep(self._settings.interval)

    async def purge(self) -> int:
        """One pass; returns how many executions it deleted. TriggerEvent's
        idempotency records, resolved alerts (with their events) and ended
        webhook deliveries as old as them go too."""
        settings = self._settings
        total = await self._in_batches(self._store.delete_finished)
        DELETED.inc(total)
        deliveries = await self._in_batches(self._store.delete_old_deliveries)
        alerts = await self._in_batches(self._store.delete_old_alerts)
        hooks = await self._in_batches(self._store.delete_old_webhook_deliveries)
        if total or deliveries or alerts or hooks:
            log.info(
                "retention: deleted %d executions, %d event delivery records, %d resolved"
                " alerts and %d webhook deliveries more than %s old",
                total,
                deliveries,
                alerts,
                hooks,
                format_retention(settings.keep),
            )
        return total

    async def _in_batches(self, delete: Callable[[timedelta, int], Awaitable[int]]) -> int:
        settings = self._settings
        total = 0
        for batch in range(settings.max_batches):
            if batch:
                await asyncio.sleep(settings.pause)
            deleted = await delete(settings.keep, settings.batch_size)
            total += deleted
            if deleted < settings.batch_size:
                break
        return total
