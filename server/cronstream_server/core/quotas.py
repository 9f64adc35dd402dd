"""Per-platform quotas: how much one platform may ask of a shared server.

Three limits, each 0 for none:
- `jobs`: jobs a platform holds (any status), across the cluster;
- `worker_streams`: worker streams a platform holds open, per replica;
- `calls_per_second`: unary calls a platform makes, per replica, as a token
  bucket that also allows a burst of `burst_seconds` worth of calls.

The defaults are far above what one service of a normal size asks for, so
that only a runaway client meets them; docs/operations.md lists them.
A refused call is RESOURCE_EXHAUSTED with a retry hint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from cronstream_server.core.errors import ResourceExhausted
from cronstream_server.core.values import value_type

DEFAULT_JOBS = 1_000_000
DEFAULT_WORKER_STREAMS = 2_000
DEFAULT_CALLS_PER_SECOND = 2_000.0
BURST_SECONDS = 2.0
# A platform that meets the jobs quota is told to come back after this: jobs
# leave only when deleted, so a short retry would only fail again.
JOBS_RETRY_AFTER = timedelta(seconds=60)
STREAMS_RETRY_AFTER = timedelta(seconds=5)


@value_type
class Quotas:
    jobs: int = DEFAULT_JOBS
    worker_streams: int = DEFAULT_WORKER_STREAMS
    calls_per_second: float = DEFAULT_CALLS_PER_SECOND


def check_jobs(held: int, adding: int, limit: int) -> None:
    """Raises ResourceExhausted when `adding` jobs to `held` passes `limit`."""
    if limit and held + adding > limit:
        raise ResourceExhausted(
            f"the platform holds {held} jobs; {adding} more would pass its quota of {limit} "
            "(delete finished jobs, or ask the operator for a larger CRONSTREAM_QUOTA_JOBS)",
            quota="jobs",
            retry_after=JOBS_RETRY_AFTER,
        )


def check_worker_streams(open_streams: int, limit: int) -> None:
    """Raises ResourceExhausted when one more stream would pass `limit`."""
    if limit and open_streams >= limit:
        raise ResourceExhausted(
            f"the platform has {open_streams} worker streams open on this replica, its quota "
            "(CRONSTREAM_QUOTA_WORKER_STREAMS); close some or connect to another replica",
            quota="worker_streams",
            retry_after=STREAMS_RETRY_AFTER,
        )


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass
class CallRate:
    """A token bucket per platform: `rate` calls a second on average, bursts
    of `rate * BURST_SECONDS`. `take` refuses with the wait that would help."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, platform_id: str) -> None:
        if not self.rate:
            return
        capacity = self.rate * BURST_SECONDS
        now = self.clock()
        bucket = self._buckets.get(platform_id)
        if bucket is None:
            bucket = self._buckets[platform_id] = _Bucket(capacity, now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1.0:
            wait = (1.0 - bucket.tokens) / self.rate
            raise ResourceExhausted(
                f"the platform makes more than {self.rate:g} calls a second on this replica "
                "(CRONSTREAM_QUOTA_CALLS_PER_SECOND); slow down",
                quota="calls_per_second",
                retry_after=timedelta(seconds=wait),
            )
        bucket.tokens -= 1.0
