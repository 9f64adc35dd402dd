"""Quota rules: the call-rate bucket and the jobs estimate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cronstream_server.core.errors import ResourceExhausted
from cronstream_server.core.quotas import CallRate, check_jobs
from cronstream_server.service.job_quota import JobQuota


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_a_burst_then_the_rate_and_says_how_long_to_wait() -> None:
    clock = Clock()
    rate = CallRate(10.0, clock)
    for _ in range(20):  # two seconds' worth at once
        rate.take("p")
    with pytest.raises(ResourceExhausted) as refused:
        rate.take("p")
    assert refused.value.quota == "calls_per_second"
    assert refused.value.retry_after == timedelta(seconds=0.1)
    rate.take("q")  # another platform has its own bucket
    clock.now += 0.1
    rate.take("p")  # one token came back


def test_a_rate_of_zero_is_no_limit() -> None:
    rate = CallRate(0.0, Clock())
    for _ in range(10_000):
        rate.take("p")


def test_the_jobs_quota_counts_what_is_added() -> None:
    check_jobs(held=9, adding=1, limit=10)
    with pytest.raises(ResourceExhausted):
        check_jobs(held=9, adding=2, limit=10)
    check_jobs(held=10**9, adding=1, limit=0)


async def test_far_from_the_quota_the_estimate_spares_the_count() -> None:
    counts: list[str] = []
    held = {"p": 10}

    async def count(platform_id: str) -> int:
        counts.append(platform_id)
        return held[platform_id]

    clock = Clock()
    quota = JobQuota(count, limit=100, clock=clock)
    await quota.admit("p", 1)
    quota.created("p", 1)
    await quota.admit("p", 1)
    assert counts == ["p"]  # 11 of 100: admitted on the estimate
    clock.now += 61
    await quota.admit("p", 1)
    assert counts == ["p", "p"]  # a minute later: counted again

    held["p"] = 89  # created elsewhere; near the quota every create counts
    quota.created("p", 80)
    await quota.admit("p", 1)
    assert counts == ["p", "p", "p"]
    held["p"] = 100  # the count, not the estimate (94), decides near the quota
    quota.created("p", 5)
    with pytest.raises(ResourceExhausted):
        await quota.admit("p", 1)
