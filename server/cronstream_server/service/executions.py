"""The execution use cases a user starts by hand: retry and cancel, each one
transaction through the ExecutionStore port (the rules are core.executions')."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cronstream_server.core import executions as execution_rules
from cronstream_server.core.executions import Execution
from cronstream_server.core.ports import ExecutionStore
from cronstream_server.core.signals import StopExecution, WorkReady
from cronstream_server.service.outcome import Outcome


class ExecutionUseCases:
    def __init__(self, executions: ExecutionStore, now: Callable[[], datetime]) -> None:
        self._executions = executions
        self._now = now

    async def retry(self, platform_id: str, execution_id: str) -> Outcome[Execution]:
        """A finished, unsuccessful execution runs again now, as a new attempt."""
        now = self._now()
        retried = await self._executions.update(
            platform_id, execution_id, lambda e: execution_rules.retry_by_user(e, now)
        )
        return Outcome(retried, (WorkReady(platform_id),))

    async def cancel(self, platform_id: str, execution_id: str) -> Outcome[Execution]:
        """Cancelled; if a worker runs it, the replica holding that worker's
        stream tells it to stop."""
        now = self._now()
        cancelled = await self._executions.update(
            platform_id, execution_id, lambda e: execution_rules.cancel_by_user(e, now)
        )
        if cancelled.keys.concurrency_key is None:
            return Outcome(cancelled, (StopExecution(cancelled.id),))
        # Its place under the key is free: executions waiting for it start.
        return Outcome(cancelled, (StopExecution(cancelled.id), WorkReady(platform_id)))
