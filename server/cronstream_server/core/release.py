"""When a backfilled execution goes from WAITING to PENDING (docs/scheduling.md,
"Backfill"). Pure.

A backfilled execution waits, due at its release time (core.backfill), with
no deadline. It is released once:

- its release time has come;
- for a BUFFER_ONE backfill's (`sequential`), no earlier backfilled
  execution of its job (a smaller instant) is waiting, pending or running:
  one at a time, oldest instant first. The store offers only such ones;
- its job's dependencies do not hold its instant back, by the rule a live
  slot follows (core.dependencies.holds), however long that takes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from datetime import datetime

from cronstream_server.core.dependencies import Upstream, holds
from cronstream_server.core.values import value_type


@value_type
class BackfillSlot:
    """A waiting backfilled execution whose release time has come and, if
    sequential, whose turn it is."""

    id: str
    platform_id: str
    job_id: str
    scheduled_at: datetime
    due_at: datetime  # its release time
    sequential: bool
    waiting_for: tuple[str, ...] = ()  # as stored: the dependencies that held it


@value_type
class ReleaseBatch:
    """What one pass of the release locked, as its `decide` callback sees it."""

    now: datetime  # the database's clock
    slots: Sequence[BackfillSlot]
    # By execution id: its job's dependencies, as core.dependencies reads them.
    upstream: Mapping[str, Sequence[Upstream]]


@value_type
class ReleasePlan:
    released: list[BackfillSlot] = field(default_factory=list)  # to PENDING, due `now`
    # Still waiting, held by other dependencies than the stored waiting_for.
    waiting: list[tuple[BackfillSlot, tuple[str, ...]]] = field(default_factory=list)


@value_type
class Releasing:
    """One pass of the release (GateStore.release)."""

    now: datetime
    plan: ReleasePlan
    seen: int  # of an ALLOW backfill's executions, locked and judged
    last: tuple[datetime, str] | None  # (due_at, id) of the last of those
    # The next release time after `now` (of an ALLOW backfill's, or of a
    # sequential one whose turn it is); None when none is known.
    next_at: datetime | None
    # Some job has an unfinished backfilled execution (waiting, pending or
    # running): a BUFFER_ONE one's next turn comes when it finishes.
    backfilling: bool = False


ReleaseDecide = Callable[[ReleaseBatch], ReleasePlan]


def plan(batch: ReleaseBatch) -> ReleasePlan:
    """Each offered slot released, unless a dependency holds its instant."""
    result = ReleasePlan()
    for slot in batch.slots:
        upstream = batch.upstream.get(slot.id, ())
        holding = tuple(u.job_id for u in upstream if holds(u, slot.scheduled_at) is not None)
        if not holding:
            result.released.append(slot)
        elif holding != slot.waiting_for:
            result.waiting.append((slot, holding))
    return result
