"""The jobs quota, without a count of the platform's jobs on every create.

Counting a platform's jobs is an index scan as long as the platform is large
(a million jobs: tens of milliseconds), too dear for every CreateJob. So each
replica keeps an estimate per platform: the database's count, taken at most
`recount_after` ago, plus the jobs this replica created since. While the
estimate stays below `exact_from` of the quota, creates are admitted on it;
nearer the quota every create counts exactly. Jobs created meanwhile on
other replicas can make an estimate low by what they created since the last
count, which is why the exact count starts well below the quota.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cronstream_server.core.quotas import check_jobs

RECOUNT_AFTER_SECONDS = 60.0
EXACT_FROM = 0.9  # of the quota


@dataclass(slots=True)
class _Estimate:
    jobs: int
    counted_at: float


class JobQuota:
    def __init__(
        self,
        count: Callable[[str], Awaitable[int]],
        limit: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`count` is JobStore.count_jobs; `limit` 0 admits everything."""
        self._count = count
        self._limit = limit
        self._clock = clock
        self._estimates: dict[str, _Estimate] = {}

    @classmethod
    def unlimited(cls) -> JobQuota:
        async def never_counted(_: str) -> int:
            return 0

        return cls(never_counted, 0)

    async def admit(self, platform_id: str, adding: int) -> None:
        """Raises ResourceExhausted when `adding` jobs would pass the quota."""
        if not self._limit:
            return
        estimate = self._estimates.get(platform_id)
        now = self._clock()
        if (
            estimate is None
            or now - estimate.counted_at > RECOUNT_AFTER_SECONDS
            or estimate.jobs + adding > self._limit * EXACT_FROM
        ):
            estimate = _Estimate(await self._count(platform_id), now)
            self._estimates[platform_id] = estimate
        check_jobs(estimate.jobs, adding, self._limit)

    def created(self, platform_id: str, jobs: int) -> None:
        """Jobs this replica just created count until the next recount."""
        estimate = self._estimates.get(platform_id)
        if estimate is not None:
            estimate.jobs += jobs
