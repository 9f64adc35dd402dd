"""Gauges refreshed every few seconds on the event loop: the queue (on the
reporting replica), this replica's workers, its database pool and Redis.

Read on the loop, so nothing here races the engine; the scrape, on the HTTP
thread, reads what was last set. A label set that disappeared (a handler no
longer served) is removed, not left at its last value.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterable

from prometheus_client import Gauge

from cronstream_server.background import Background, log_loop_failure
from cronstream_server.core.ports import ClusterFigures, PoolFigures
from cronstream_server.engine.session import Session
from cronstream_server.telemetry.metrics import Metrics

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0


class GaugeRefresher:
    def __init__(
        self,
        metrics: Metrics,
        cluster: ClusterFigures,
        sessions: Callable[[], Iterable[Session]],
        pool: Callable[[], PoolFigures | None],
        redis_healthy: Callable[[], bool] | None,
        interval: float = REFRESH_SECONDS,
    ) -> None:
        self._metrics = metrics
        self._reporter = cluster
        self._sessions = sessions
        self._pool = pool
        self._redis_healthy = redis_healthy
        self._interval = interval
        self._shown: dict[str, set[tuple[str, ...]]] = {}
        self._alerts_cursor: int | None = None  # the last alert event counted
        self._task = Background("metrics gauges", self._run)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()
        await self._reporter.close()

    async def refresh(self) -> None:
        m = self._metrics
        self._local()
        if await self._reporter.reporting():
            m.reporter.set(1)
            opened, self._alerts_cursor = await self._reporter.alerts_opened(self._alerts_cursor)
            for labels, n in Tally(opened).items():
                m.alerts_opened.labels(*labels).inc(n)
            figures = await self._reporter.queue()
            self._show(m.pending, {(f.platform_id, f.handler_name): f.pending for f in figures})
            self._show(m.running, {(f.platform_id, f.handler_name): f.running for f in figures})
            self._show(m.waiting, {(f.platform_id, f.handler_name): f.waiting for f in figures})
        else:
            m.reporter.set(0)
            self._alerts_cursor = None  # a reporter again later counts from then
            self._show(m.pending, {})
            self._show(m.running, {})
            self._show(m.waiting, {})

    def _local(self) -> None:
        m = self._metrics
        workers: Tally[tuple[str, ...]] = Tally()
        free: Tally[tuple[str, ...]] = Tally()
        for session in self._sessions():
            for handler in session.handler_names:
                workers[(session.platform_id, handler)] += 1
                free[(session.platform_id, handler)] += session.free
        self._show(m.workers, workers)
        self._show(m.free_slots, free)
        pool = self._pool()
        if pool is not None:
            m.pool_in_use.set(pool.in_use)
            m.pool_idle.set(pool.idle)
            m.pool_waiting.set(pool.waiting)
        if self._redis_healthy is not None:
            m.redis_connected.set(1 if self._redis_healthy() else 0)

    def _show(self, gauge: Gauge, values: dict[tuple[str, ...], int]) -> None:
        shown = self._shown.setdefault(gauge._name, set())
        for labels in shown - values.keys():
            gauge.remove(*labels)
        for labels, value in values.items():
            gauge.labels(*labels).set(value)
        self._shown[gauge._name] = set(values)

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log_loop_failure(log, "metrics gauges not refreshed", error)
            await asyncio.sleep(self._interval)
