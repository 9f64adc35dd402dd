"""Health: GetHealth's view of the running parts (signals and the engine), and
the watch that keeps the serving status true to the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from cronstream_server.background import Background, log_loop_failure
from cronstream_server.core.insight import ComponentHealth, HealthStatus
from cronstream_server.core.ports import Signals
from cronstream_server.engine.ticker import Ticker

log = logging.getLogger(__name__)


class EngineHealth:
    def __init__(self, ticker: Ticker, signals: Signals, broker: str) -> None:
        self._ticker = ticker
        self._signals = signals
        self._broker = broker

    async def signals(self) -> ComponentHealth:
        if self._signals.healthy:
            return ComponentHealth("signals", HealthStatus.SERVING, self._broker)
        # Work still flows by polling: slower, never lost.
        return ComponentHealth(
            "signals", HealthStatus.DEGRADED, f"{self._broker} unreachable; polling"
        )

    async def engine(self) -> ComponentHealth:
        if not self._ticker.enabled:
            return ComponentHealth("engine", HealthStatus.SERVING, "ticker off on this replica")
        if not self._ticker.running:
            return ComponentHealth("engine", HealthStatus.NOT_SERVING, "ticker stopped")
        last = self._ticker.last_tick_at
        detail = f"last tick {last.isoformat()}" if last else "starting"
        return ComponentHealth("engine", HealthStatus.SERVING, detail)


# How often the database is probed for the serving status, and how long a
# probe may take: an outage shows within about two seconds.
WATCH_INTERVAL = timedelta(seconds=1)
WATCH_TIMEOUT = timedelta(seconds=1)


class DatabaseWatch:
    """Keeps the serving status (`grpc.health.v1`) true to the database:
    NOT_SERVING while it cannot be reached, SERVING once it answers again.

    A probe that fails is repeated at once before it counts: after a database
    restart every pooled connection fails once, and the repeat gets a fresh one.
    """

    def __init__(
        self,
        probe: Callable[[timedelta], Awaitable[ComponentHealth]],
        on_change: Callable[[bool], Awaitable[None]],
        interval: timedelta = WATCH_INTERVAL,
    ) -> None:
        self._probe = probe
        self._on_change = on_change
        self._interval = interval.total_seconds()
        self.serving = True
        self._loop = Background("database-watch", self._run)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def check(self) -> bool:
        """One probe; reports a change of status. Returns whether serving."""
        health = await self._probe(WATCH_TIMEOUT)
        if health.status is not HealthStatus.SERVING:
            health = await self._probe(WATCH_TIMEOUT)
        serving = health.status is HealthStatus.SERVING
        if serving != self.serving:
            self.serving = serving
            if serving:
                log.info("the database answers again: serving")
            else:
                log.warning("the database is unreachable (%s): not serving", health.message)
            await self._on_change(serving)
        return serving

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception as error:  # the probe never raises; on_change might
                log_loop_failure(log, "database watch failed", error)
            await asyncio.sleep(self._interval)
