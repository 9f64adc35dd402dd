"""GetHealth's view of the running parts: signals and the engine."""

from __future__ import annotations

from cronstream_server.core.insight import ComponentHealth, HealthStatus
from cronstream_server.core.ports import Signals
from cronstream_server.engine.ticker import Ticker


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
