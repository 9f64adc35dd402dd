"""The claim where concurrency keys or rate limits may hold candidates back
(store.dispatch.SqlDispatchStore.claim), inside the claim's transaction.

Each pass locks the keys and buckets its candidates need (store.queries_limits),
reads their running counts and buckets, lets `core.admission.admit` pick
the admitted ones, and asks `decide` for the Starts among them. When a want
got a full page of candidates and some were held back, the next pass reads
that want's following candidates with the held-back keys left out, so one
key's backlog never keeps the executions behind it waiting for free seats
(head-of-line). The buckets the Starts drew from are written back at the end.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.core.admission import (
    Admission,
    BucketId,
    GateState,
    KeyId,
    LimitId,
    admit,
    bucket_ids,
    concurrency_key,
    consume,
)
from cronstream_server.core.dispatch import Pending, Start, Want
from cronstream_server.core.ports import DecideClaim
from cronstream_server.core.rate_limits import Bucket, RateLimit, Scope
from cronstream_server.store import queries_dispatch as q
from cronstream_server.store import queries_limits as ql
from cronstream_server.store.clock import database_now
from cronstream_server.store.database import Dialect

# Passes over a claim's wants at most: each one after the first reads past
# the keys found held back so far.
MAX_PASSES = 4


@dataclass
class _Gate:
    """What the claim has locked and read so far; grows pass by pass."""

    conn: AsyncConnection
    dialect: Dialect
    limits: dict[LimitId, RateLimit]
    running: dict[KeyId, int] = field(default_factory=dict)
    buckets: dict[BucketId, Bucket] = field(default_factory=dict)
    seen_buckets: set[BucketId] = field(default_factory=set)
    locked_out: set[KeyId | BucketId] = field(default_factory=set)
    read_templates: set[LimitId] = field(default_factory=set)

    async def state(self, pool: list[Pending]) -> GateState:
        await self._read_key_limits(pool)
        keys = {k for c in pool if (k := concurrency_key(c)) is not None} - set(self.running)
        new_buckets = {b for c in pool for b in bucket_ids(c, self.limits)} - self.seen_buckets
        new_keys = keys - self.locked_out
        self.locked_out |= await ql.try_locks(self.conn, self.dialect, [*new_keys, *new_buckets])
        counted = [k for k in new_keys if k not in self.locked_out]
        self.running |= await ql.running_counts(self.conn, counted)
        self.buckets |= await ql.load_buckets(
            self.conn, [b for b in new_buckets if b not in self.locked_out]
        )
        self.seen_buckets |= new_buckets
        # The clock read after the counts: buckets refill up to it and the
        # Starts are stamped with it, so an execution whose end a count saw
        # ended before this one's recorded start (recorded intervals of a
        # key never overlap past its limit), and recorded starts keep their
        # buckets' spacing.
        now = await database_now(self.conn, self.dialect)
        return GateState(
            now,
            dict(self.running),
            self.limits,
            dict(self.buckets),
            frozenset(self.locked_out),
        )

    async def _read_key_limits(self, pool: list[Pending]) -> None:
        templates = {
            (c.platform_id, Scope.KEY, t)
            for c in pool
            if (t := c.keys.rate_limit_template) is not None
        }
        unread = templates - self.read_templates
        if unread:
            self.limits = self.limits | await ql.limits_named(self.conn, unread)
            self.read_templates |= unread


async def claim_gated(
    conn: AsyncConnection,
    dialect: Dialect,
    found: dict[Want, list[Pending]],
    by: datetime,
    limits: dict[LimitId, RateLimit],
    decide: DecideClaim,
) -> tuple[list[Start], datetime | None]:
    """The Starts (marked running, their buckets drawn from) and when a
    held-back candidate is worth another look."""
    gate = _Gate(conn, dialect, limits)
    full = {want for want, candidates in found.items() if len(candidates) >= want.limit}
    for attempt in range(MAX_PASSES):
        pool = [c for candidates in found.values() for c in candidates]
        state = await gate.state(pool)
        admission = admit(pool, state)
        starts = decide(admission.admitted, state.now)
        again = _wants_short(found, full, admission, starts)
        if not again or attempt == MAX_PASSES - 1:
            break
        full = await _read_on(conn, found, again, admission, by)
    await q.mark_running(conn, dialect, starts)
    await ql.save_buckets(conn, consume([s.execution for s in starts], state))
    return starts, admission.retry_at


def _wants_short(
    found: dict[Want, list[Pending]], full: set[Want], admission: Admission, starts: list[Start]
) -> list[Want]:
    """Wants that may have more candidates (their last read was a full page),
    had some held back, and started fewer than their free seats."""
    held = Counter((c.platform_id, c.handler_name) for c in admission.blocked)
    started = Counter((s.execution.platform_id, s.execution.handler_name) for s in starts)
    return [
        want
        for want in found
        if want in full
        and held[(want.platform_id, want.handler_name)]
        and started[(want.platform_id, want.handler_name)] < want.limit
        and (want.platform_id, Scope.HANDLER, want.handler_name) not in admission.blocked_handlers
    ]


async def _read_on(
    conn: AsyncConnection,
    found: dict[Want, list[Pending]],
    wants: list[Want],
    admission: Admission,
    by: datetime,
) -> set[Want]:
    """Reads each want's next page past its held-back keys; the wants whose
    page came back full."""
    full: set[Want] = set()
    for want in wants:
        beyond = q.Beyond(
            after=found[want][-1],
            concurrency_keys=frozenset(
                key for platform, key in admission.blocked_keys if platform == want.platform_id
            ),
            rate_limit_keys=frozenset(
                b[3] for b in admission.blocked_rate_keys if b[0] == want.platform_id
            ),
        )
        more = (await q.due_candidates(conn, want, by, beyond)).pending
        found[want].extend(more)
        if len(more) >= want.limit:
            full.add(want)
    return full
