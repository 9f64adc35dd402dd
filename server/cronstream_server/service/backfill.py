"""The BackfillJob use case: a job's past instants, as executions released
to workers at a bounded rate (the rules are core.backfill's).

The executions wait (WAITING) until the gate releases them, at the rate
and, for a BUFFER_ONE backfill, one at a time (core.release). Unlike the
other use cases it is several transactions, one per chunk of
instants: 100,000 executions in one transaction would hold the job's row,
and on SQLite the one write lock, for as long as they take to write, and the
ticker with it. Each chunk is whole or absent, and an instant is never given
two executions, so a call cut short (a lost connection, a job cancelled
meanwhile) is finished by calling it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from cronstream_server.core import backfill as rules
from cronstream_server.core.backfill import Backfilled, BackfillRequest
from cronstream_server.core.errors import InvalidArgument
from cronstream_server.core.executions import Execution
from cronstream_server.core.jobs import Job
from cronstream_server.core.ports import BackfillStore, JobStore
from cronstream_server.core.signals import ReleaseDue
from cronstream_server.core.tracing import TraceContext
from cronstream_server.core.triggers import Trigger
from cronstream_server.service.outcome import Outcome

# Instants per transaction. Their rows are built in a worker thread
# (store.backfill), which still holds the interpreter lock against the event
# loop while it builds: one chunk is one stall of live firings. At 500 a
# chunk live p99 beside a 100,000-instant backfill was 2.3-3.5x its value
# without, at 100 it is 1.05-1.1x (docs/benchmarks.md). A small chunk also
# keeps the job's row, and on SQLite the write lock, for milliseconds; the
# pause after each lets the ticker in.
CHUNK = 100
CHUNK_PAUSE = 0.005


class _Release:
    """Due times of a call's new executions, in instant order: `rate` a
    second from `began`. Counted across chunks, so the pace is the call's."""

    def __init__(self, began: datetime, rate: float) -> None:
        self._began = began
        self._rate = rate
        self._next = 0

    def take(self, count: int) -> list[datetime]:
        first, self._next = self._next, self._next + count
        return [rules.release_at(self._began, i, self._rate) for i in range(first, self._next)]


class BackfillUseCases:
    def __init__(
        self,
        store: BackfillStore,
        jobs: JobStore,
        now: Callable[[], datetime],
        rate: float = rules.DEFAULT_RATE,
    ) -> None:
        """`rate`: backfilled executions released per second, per call."""
        self._store = store
        self._jobs = jobs
        self._now = now
        self._rate = rate

    async def backfill(
        self,
        platform_id: str,
        job_id: str,
        request: BackfillRequest,
        trace: TraceContext | None,
    ) -> Outcome[Backfilled]:
        """Executions for the job's instants in the range that have none;
        NotFound, FailedPrecondition (core.backfill.check_job), or
        InvalidArgument past MAX_INSTANTS, before anything is stored."""
        job = await self._jobs.get_job(platform_id, job_id)
        rules.check_job(job)
        assert job.spec.trigger is not None  # check_job: a job with a schedule
        instants = await asyncio.to_thread(_instants, job.spec.trigger, request)
        began = self._now()
        release = _Release(began, self._rate)

        def make(current: Job, fresh: list[datetime]) -> list[Execution]:
            rules.check_job(current)  # cancelled since the call began
            due = zip(fresh, release.take(len(fresh)), strict=True)
            return [rules.execution(current, at, began, d, trace) for at, d in due]

        sequential = rules.sequential(rules.policy_for(job, request.overlap_policy))
        created = 0
        for first in range(0, len(instants), CHUNK):
            chunk = instants[first : first + CHUNK]
            created += await self._store.add_backfill(platform_id, job_id, chunk, make, sequential)
            await asyncio.sleep(CHUNK_PAUSE)
        # The gates release the first at once, the others as their time
        # and turn come (core.release).
        signals = (ReleaseDue(began),) if created else ()
        return Outcome(Backfilled(len(instants), created), signals)


def _instants(trigger: Trigger, request: BackfillRequest) -> list[datetime]:
    """The schedule's instants in the range (tens of microseconds each: run in
    a worker thread); InvalidArgument as soon as they pass MAX_INSTANTS."""
    found: list[datetime] = []
    for page in rules.pages(trigger, request.start, request.end):
        found += page
        if len(found) > rules.MAX_INSTANTS:
            beyond = found[rules.MAX_INSTANTS]
            raise InvalidArgument([rules.too_many(trigger, request.start, request.end, beyond)])
    return found
