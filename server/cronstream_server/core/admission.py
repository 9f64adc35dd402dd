"""Which claimed candidates concurrency keys and rate limits let start
(docs/scheduling.md#concurrency-keys, #rate-limits).

Pure: the claim reads, under its per-key locks, how many executions of each
key run and what each bucket holds (`GateState`); `admit` walks the
candidates in dispatch order and lets through those with a free place under
their key and a token in every bucket that applies; `consume` is what the
Starts the dispatcher then picked take from the buckets. A candidate that is
not admitted stays pending, untouched: its due instant, and so its lateness,
stay its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import field
from datetime import datetime, timedelta

from cronstream_server.core.dispatch import Pending, dispatch_order
from cronstream_server.core.limits import NO_KEYS
from cronstream_server.core.rate_limits import Bucket, RateLimit, Scope, level, next_token, take
from cronstream_server.core.values import value_type

KeyId = tuple[str, str]  # (platform_id, expanded concurrency key)
LimitId = tuple[str, Scope, str]  # (platform_id, scope, key as written or handler name)
BucketId = tuple[str, Scope, str, str]  # a limit's id, then the expanded key ("" for a handler)

# A key or bucket another replica's claim holds right now is looked at again
# this soon: that claim may leave places free.
LOCKED_RETRY = timedelta(milliseconds=50)


def has_keys(candidates: Iterable[Pending]) -> bool:
    """Whether any candidate carries a concurrency key or a rate-limit key
    (a handler's rate limit may hold one back too: the claim asks apart).
    Rows without keys share NO_KEYS (store.rows), so this is an identity
    test per row on the claim's hot path."""
    return any(candidate.keys is not NO_KEYS for candidate in candidates)


def concurrency_key(candidate: Pending) -> KeyId | None:
    key = candidate.keys.concurrency_key
    return None if key is None else (candidate.platform_id, key)


def bucket_ids(candidate: Pending, limits: dict[LimitId, RateLimit]) -> list[BucketId]:
    """The buckets a start of `candidate` takes a token from."""
    found: list[BucketId] = []
    handler = (candidate.platform_id, Scope.HANDLER, candidate.handler_name)
    if handler in limits:
        found.append((*handler, ""))
    template = candidate.keys.rate_limit_template
    if template is not None and (candidate.platform_id, Scope.KEY, template) in limits:
        found.append(
            (candidate.platform_id, Scope.KEY, template, candidate.keys.rate_limit_key or "")
        )
    return found


@value_type
class GateState:
    """What the claim read under its locks."""

    now: datetime
    running: dict[KeyId, int] = field(default_factory=dict)  # keys it holds
    limits: dict[LimitId, RateLimit] = field(default_factory=dict)
    buckets: dict[BucketId, Bucket] = field(default_factory=dict)  # absent: full
    locked_out: frozenset[KeyId | BucketId] = frozenset()  # another claim holds them


@value_type
class Admission:
    admitted: list[Pending]
    blocked: list[Pending]
    blocked_keys: frozenset[KeyId]  # concurrency keys with a candidate held back
    blocked_rate_keys: frozenset[BucketId]  # key buckets with a candidate held back
    blocked_handlers: frozenset[LimitId]  # handler buckets with one held back
    retry_at: datetime | None  # the soonest a held-back candidate may start


def admit(candidates: Sequence[Pending], state: GateState) -> Admission:
    """Candidates in dispatch order, each admitted when its key has a place
    (under its own limit, counting those running and those admitted before
    it) and every bucket of it a token; each admitted one holds its place
    and token for the rest of the walk."""
    used: Counter[KeyId] = Counter(state.running)
    levels = {
        b: level(state.limits[b[:3]], state.buckets.get(b), state.now)
        for b in _all_buckets(candidates, state)
    }
    admitted: list[Pending] = []
    blocked: list[Pending] = []
    retry: list[datetime] = []
    for candidate in sorted(candidates, key=dispatch_order):
        held, waits = _held_back(candidate, state, used, levels)
        if held:
            blocked.append(candidate)
            retry.extend(waits)
        else:
            admitted.append(candidate)
            _hold(candidate, state, used, levels)
    return _admission(admitted, blocked, state, levels, retry)


def _all_buckets(candidates: Sequence[Pending], state: GateState) -> set[BucketId]:
    return {b for c in candidates for b in bucket_ids(c, state.limits)}


def _held_back(
    candidate: Pending, state: GateState, used: Counter[KeyId], levels: dict[BucketId, Bucket]
) -> tuple[bool, list[datetime]]:
    """Whether the candidate must wait, and the instants worth a new look
    (none for a full key alone: the end of one of its executions wakes the
    dispatchers)."""
    held = False
    waits: list[datetime] = []
    key = concurrency_key(candidate)
    if key is not None and key in state.locked_out:
        held = True
        waits.append(state.now + LOCKED_RETRY)
    elif key is not None and used[key] >= (candidate.keys.concurrency_limit or 0):
        held = True
    for bucket in bucket_ids(candidate, state.limits):
        if bucket in state.locked_out:
            held = True
            waits.append(state.now + LOCKED_RETRY)
        elif take(levels[bucket]) is None:
            held = True
            waits.append(next_token(state.limits[bucket[:3]], levels[bucket]))
    return held, waits


def _hold(
    candidate: Pending, state: GateState, used: Counter[KeyId], levels: dict[BucketId, Bucket]
) -> None:
    key = concurrency_key(candidate)
    if key is not None:
        used[key] += 1
    for bucket in bucket_ids(candidate, state.limits):
        after = take(levels[bucket])
        assert after is not None  # admitted: it had a token
        levels[bucket] = after


def _admission(
    admitted: list[Pending],
    blocked: list[Pending],
    state: GateState,
    levels: dict[BucketId, Bucket],
    retry: list[datetime],
) -> Admission:
    keys = {k for c in blocked if (k := concurrency_key(c)) is not None}
    empty = {
        b
        for c in blocked
        for b in bucket_ids(c, state.limits)
        if b in state.locked_out or take(levels[b]) is None
    }
    return Admission(
        admitted=admitted,
        blocked=blocked,
        blocked_keys=frozenset(keys),
        blocked_rate_keys=frozenset(b for b in empty if b[1] is Scope.KEY),
        blocked_handlers=frozenset(b[:3] for b in empty if b[1] is Scope.HANDLER),
        retry_at=min(retry, default=None),
    )


def consume(starts: Iterable[Pending], state: GateState) -> dict[BucketId, Bucket]:
    """The buckets after `starts` (admitted candidates) each took a token,
    refilled to `now` first: what the claim writes back."""
    after: dict[BucketId, Bucket] = {}
    for started in starts:
        for bucket in bucket_ids(started, state.limits):
            current = after.get(bucket) or level(
                state.limits[bucket[:3]], state.buckets.get(bucket), state.now
            )
            taken = take(current)
            after[bucket] = taken if taken is not None else current
    return after
