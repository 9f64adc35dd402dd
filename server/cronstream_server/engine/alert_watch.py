"""The clock of alerts: every quarter second, LATE and OVERRUNNING alerts
whose time has come are opened, and those (and MISSED) that no longer hold
are resolved (store.alerts). A quarter second keeps an alert within 1 s of
its instant on a loaded machine; on Postgres one replica checks at a time.

While no platform or job sets a LATE or OVERRUNNING limit and no such alert
(nor a MISSED one) is open, nothing can open or resolve: the watch then
checks once a second, which still sees a limit set meanwhile in time to
keep that promise (the first instant it can apply to is its own limit
after an execution's due time). So a replica whose platforms use no such
limit costs Postgres one check a second, not four.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from cronstream_server.background import Background, log_loop_failure
from cronstream_server.core.alerts import Checked

log = logging.getLogger(__name__)

CHECK_SECONDS = 0.25
IDLE_CHECK_SECONDS = 1.0


class AlertWatch:
    def __init__(
        self,
        check: Callable[[], Awaitable[Checked]],
        interval: float = CHECK_SECONDS,
        idle_interval: float = IDLE_CHECK_SECONDS,
    ) -> None:
        self._check = check
        self._interval = interval
        self._idle_interval = idle_interval
        self._loop = Background("alert watch", self._run)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        while True:
            watching = True
            try:
                checked = await self._check()
                watching = checked.watching
                for event in checked.events:
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
            await asyncio.sleep(self._interval if watching else self._idle_interval)
