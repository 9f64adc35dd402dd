"""The claim's SQL for concurrency keys and rate limits: per-key locks, the
running count of a key, rate limits and their buckets.

Serialization across replicas (docs/decisions.md): on Postgres the claim
takes a transaction-scoped advisory lock per concurrency key and per bucket
it is about to admit to, with `pg_try_advisory_xact_lock`, before it counts
that key's running executions or reads that bucket. Two replicas' claims so
never both admit the last free place of a key: the second one either fails
the try (and leaves the key to the first this round, like SKIP LOCKED does
with rows) or gets the lock once the first committed, and its count, a new
statement under READ COMMITTED, sees the first one's running rows. Advisory
locks and not row locks in a table of keys: a key needs no row created
first (an insert that would wait on another claim's uncommitted one), none
to clean up when its last execution goes, and a try never waits, so claims
cannot deadlock on keys whatever their order. SQLite has one writer (BEGIN
IMMEDIATE): the claim is alone, and the locks are nothing.

Every other writer only lowers a key's count (a result, the reaper, a
release) or refills a bucket (SetRateLimit, DeleteRateLimit): racing the
claim, they make it admit fewer, never more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, literal_column, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.core.admission import BucketId, KeyId, LimitId
from cronstream_server.core.rate_limits import Bucket, RateLimit, Scope
from cronstream_server.store.database import Dialect
from cronstream_server.store.tables import job_executions, rate_limit_buckets, rate_limits

executions = job_executions
buckets = rate_limit_buckets

_TRY_LOCKS = text(
    "SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k WHERE NOT pg_try_advisory_xact_lock(k)"
).bindparams(bindparam("keys", type_=ARRAY(BIGINT)))


def lock_name(item: KeyId | BucketId) -> str:
    """What a key's or bucket's advisory lock is named after."""
    return "\x00".join(("limits", *item))


def _lock_key(name: str) -> int:
    """64 bits of the name's hash, as Postgres' signed bigint. Two names that
    collide share a lock: one waits a round for the other, nothing worse."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def try_locks(
    conn: AsyncConnection, dialect: Dialect, items: Iterable[KeyId | BucketId]
) -> set[KeyId | BucketId]:
    """Takes each item's lock for the transaction where no other transaction
    holds it; returns those another holds (never waits). Taking one twice in
    a transaction is harmless."""
    wanted = {_lock_key(lock_name(item)): item for item in items}
    if not wanted or not dialect.advisory_locks:
        return set()
    result = await conn.execute(_TRY_LOCKS, {"keys": sorted(wanted)})
    return {wanted[key] for key in result.scalars().all()}


async def running_counts(conn: AsyncConnection, keys: Iterable[KeyId]) -> dict[KeyId, int]:
    """How many executions with each (platform, key) run now, cluster-wide,
    claimed ahead of their instant included; through
    ix_job_executions_keyed_running, which holds those rows alone."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    query = (
        select(executions.c.platform_id, executions.c.concurrency_key, func.count())
        .where(
            executions.c.status == literal_column("'running'"),
            executions.c.concurrency_key.is_not(None),
            tuple_(executions.c.platform_id, executions.c.concurrency_key).in_(wanted),
        )
        .group_by(executions.c.platform_id, executions.c.concurrency_key)
    )
    counts = {(p, k): n for p, k, n in (await conn.execute(query)).all()}
    return {key: counts.get(key, 0) for key in wanted}


async def limits_named(conn: AsyncConnection, ids: Iterable[LimitId]) -> dict[LimitId, RateLimit]:
    """The rate limits among `ids` that exist. FOR KEY SHARE: a DeleteRateLimit
    of one waits until the claim wrote its bucket (whose row references it),
    while SetRateLimit's update of it does not conflict."""
    wanted = sorted({(p, s.value, n) for p, s, n in ids})
    if not wanted:
        return {}
    query = (
        select(rate_limits)
        .where(
            tuple_(rate_limits.c.platform_id, rate_limits.c.scope, rate_limits.c.name).in_(wanted)
        )
        .with_for_update(read=True, key_share=True)
    )
    found = [rate_limit_from_row(row) for row in (await conn.execute(query)).all()]
    return {(r.platform_id, r.scope, r.name): r for r in found}


def rate_limit_from_row(row: Row[Any]) -> RateLimit:
    r = row._mapping
    return RateLimit(
        platform_id=r["platform_id"],
        scope=Scope(r["scope"]),
        name=r["name"],
        limit=r["starts"],
        per=timedelta(milliseconds=r["per_ms"]),
        burst=r["burst"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


_BUCKET_PK = tuple_(buckets.c.platform_id, buckets.c.scope, buckets.c.name, buckets.c.bucket)


async def load_buckets(conn: AsyncConnection, ids: Iterable[BucketId]) -> dict[BucketId, Bucket]:
    """The stored buckets among `ids` (a missing one is full)."""
    wanted = sorted({(p, s.value, n, b) for p, s, n, b in ids})
    if not wanted:
        return {}
    query = select(buckets).where(_BUCKET_PK.in_(wanted))
    return {
        (r.platform_id, Scope(r.scope), r.name, r.bucket): Bucket(r.tokens, r.at)
        for r in (await conn.execute(query)).all()
    }


async def save_buckets(conn: AsyncConnection, changed: dict[BucketId, Bucket]) -> None:
    """Writes the buckets the claim drew from (under their locks: no other
    claim writes them meanwhile), as a delete and an insert, which every
    database runs alike."""
    if not changed:
        return
    keys = sorted((p, s.value, n, b) for p, s, n, b in changed)
    await conn.execute(delete(buckets).where(_BUCKET_PK.in_(keys)))
    rows: Sequence[dict[str, object]] = [
        {"platform_id": p, "scope": s.value, "name": n, "bucket": b, "tokens": v.tokens, "at": v.at}
        for (p, s, n, b), v in sorted(changed.items())
    ]
    await conn.execute(buckets.insert(), list(rows))
