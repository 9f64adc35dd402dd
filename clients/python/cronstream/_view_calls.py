"""The `Client` methods a dashboard or a terminal view needs beside the plain
calls: the recent runs of many jobs, and a log tail that follows a running
execution. A mixin of `Client`, kept apart so each module holds one concern."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, TypeVar

from cronstream.models import Execution, LogLine
from cronstream.recent import JobRecentRuns
from cronstream.v1 import scheduler_service_pb2 as pb

if TYPE_CHECKING:
    from grpc import aio

    from cronstream.v1 import scheduler_service_pb2_grpc

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")

#: How often `follow_logs` asks for new lines while the execution runs.
FOLLOW_POLL_SECONDS = 0.5


class ViewCalls:
    """Recent runs, log tails."""

    if TYPE_CHECKING:
        scheduler: scheduler_service_pb2_grpc.SchedulerServiceAsyncStub

        async def _call(
            self, method: aio.UnaryUnaryMultiCallable[_Request, _Response], request: _Request
        ) -> _Response: ...

        async def get_execution(self, execution_id: str) -> Execution: ...

    async def get_recent_runs(
        self, job_ids: Sequence[str], *, limit: int = 0
    ) -> list[JobRecentRuns]:
        """The latest `limit` runs (default 20, at most 50) of each of 1 to 200
        jobs, newest first, one entry per id in the order given. An id that
        names none of the platform's jobs gets no runs, not an error."""
        request = pb.GetRecentRunsRequest(job_ids=job_ids, limit=limit)
        response = await self._call(self.scheduler.GetRecentRuns, request)
        return [JobRecentRuns.from_proto(entry) for entry in response.jobs]

    def list_execution_logs(
        self, execution_id: str, *, after_sequence: int = 0, page_size: int = 100
    ) -> AsyncIterator[LogLine]:
        """An execution's log lines, oldest first; with `after_sequence`, only
        those after the line of that `LogLine.sequence`."""
        return self._logs_after(execution_id, after_sequence, page_size)

    async def follow_logs(
        self,
        execution_id: str,
        *,
        after_sequence: int = 0,
        poll_interval: float = FOLLOW_POLL_SECONDS,
    ) -> AsyncIterator[LogLine]:
        """Every log line of the execution, then each new one as it is stored,
        until the execution has ended (`tail -f` that stops by itself). It
        asks every `poll_interval` seconds; the lines a worker sent before its
        result are stored by the time the execution ends, so none is missed."""
        after = after_sequence
        while True:
            # Read before the lines: lines that come after an ended status are
            # then still read once more below, and none stored before is missed.
            ended = (await self.get_execution(execution_id)).status.final
            async for line in self._logs_after(execution_id, after, 100):
                after = line.sequence
                yield line
            if ended:
                return
            await asyncio.sleep(poll_interval)

    async def _logs_after(
        self, execution_id: str, after: int, page_size: int
    ) -> AsyncIterator[LogLine]:
        """Pages that each resume after the last line of the previous one (a
        sequence is the same key a page token carries)."""
        while True:
            request = pb.ListExecutionLogsRequest(
                execution_id=execution_id, after_sequence=after, page_size=page_size
            )
            response = await self._call(self.scheduler.ListExecutionLogs, request)
            for message in response.logs:
                line = LogLine.from_proto(message)
                after = line.sequence
                yield line
            if not response.next_page_token or not response.logs:
                return
