"""The clock of alerts: every quarter second, LATE and OVERRUNNING alerts
whose time has come are opened, and those (and MISSED) that no longer hold
are resolved (store.alerts). A quarter second keeps an alert within 1 s of
its instant on a loaded machine; on Postgres one replica checks at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from cronstream_server.background import Background, log_loop_failure
from cronstream_server.core.alerts import AlertEvent

log = logging.getLogger(__name__)

CHECK_SECONDS = 0.25


class AlertWatch:
    def __init__(
        self,
        check: Callable[[], Awaitable[Sequence[AlertEvent]]],
        interval: float = CHECK_SECONDS,
    ) -> None:
        self._check = check
        self._interval = interval
        self._loop = Background("alert watch", self._run)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        while True:
            try:
                for event in await self._check():
                    a = event.alert
                    log.info(
                        "alert %s %s: job %s (%s): %s",
                        a.kind.value,
                        event.type,
                        a.job_id,
                        a.job_name,
                        a.reason,
                        extra={"platform_id": a.platform_id, "job_id": a.job_id},
                    )
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log_loop_failure(log, "alert check failed", error)
            await asyncio.sleep(self._interval)
