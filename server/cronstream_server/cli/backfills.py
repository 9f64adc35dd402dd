"""`jobs backfill`'s work: the BackfillJob call, then its executions watched
while the server releases them (WAITING -> PENDING, at its backfill rate)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from cronstream import Backfill, Client
from cronstream.models import ExecutionStatus, OverlapPolicy
from rich.progress import MofNCompleteColumn, Progress

from cronstream_server.cli.choices import BackfillOverlap
from cronstream_server.cli.output import errors

#: How often the job's count of waiting executions is read while they are released.
POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Outcome:
    counts: Backfill
    #: Of the executions created, those released by the time the command ended.
    released: int

    def as_dict(self) -> dict[str, int]:
        return {
            "instants": self.counts.instants,
            "created": self.counts.created,
            "existing": self.counts.existing,
            "released": self.released,
        }


async def run(
    client: Client,
    job_id: str,
    start: datetime,
    end: datetime,
    overlap: BackfillOverlap | None,
    *,
    wait: bool,
    bar: bool,
) -> Outcome:
    """Backfills; with `wait`, returns once every execution it created is
    released, showing a progress bar on stderr when `bar`."""
    waiting_before = await _waiting(client, job_id) if wait else 0
    policy = None if overlap is None else OverlapPolicy[overlap.name]
    counts = await client.backfill_job(job_id, start, end, overlap_policy=policy)
    if not wait or counts.created == 0:
        return Outcome(counts, 0)
    released = await _watch_release(client, job_id, counts.created, waiting_before, bar)
    return Outcome(counts, released)


async def _watch_release(
    client: Client, job_id: str, created: int, waiting_before: int, bar: bool
) -> int:
    """Polls the job's WAITING count until the backfill's are gone. The count
    is the job's (a live slot waiting on a dependency counts too), so the
    backfill's share is what exceeds the count before it."""
    columns = (*Progress.get_default_columns(), MofNCompleteColumn())
    with Progress(*columns, console=errors(), disable=not bar) as progress:
        task = progress.add_task("released", total=created)
        while True:
            outstanding = min(created, max(0, await _waiting(client, job_id) - waiting_before))
            progress.update(task, completed=created - outstanding)
            if outstanding == 0:
                return created
            await asyncio.sleep(POLL_SECONDS)


async def _waiting(client: Client, job_id: str) -> int:
    stats = await client.get_job_stats(job_id)
    return stats.executions_by_status.get(ExecutionStatus.WAITING, 0)
