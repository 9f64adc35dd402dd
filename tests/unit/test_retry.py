"""Retry backoff: doubling from retry_delay, capped, with a [0.8, 1.2] jitter."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from cronstream_server.core.retry import DEFAULT_RETRY_CAP, retry_delay

SECOND = timedelta(seconds=1)


def test_the_jitter_is_one_uniform_draw_in_0_8_to_1_2() -> None:
    expected = random.Random(7).uniform(0.8, 1.2)
    assert retry_delay(SECOND, 0, random.Random(7)) == timedelta(seconds=expected)
    assert retry_delay(SECOND, 3, random.Random(7)) == timedelta(seconds=8 * expected)


@pytest.mark.parametrize("retry_count", range(6))
def test_each_retry_doubles_the_delay_within_the_jitter(retry_count: int) -> None:
    rng = random.Random(retry_count)
    base = 2**retry_count
    draws = [retry_delay(SECOND, retry_count, rng) / SECOND for _ in range(2000)]
    assert 0.8 * base <= min(draws) < 0.82 * base
    assert 1.18 * base < max(draws) <= 1.2 * base
    assert sum(draws) / len(draws) == pytest.approx(base, rel=0.01)


def test_the_cap_bounds_the_delay_before_the_jitter() -> None:
    rng = random.Random(1)
    cap = timedelta(minutes=5)
    draws = [retry_delay(timedelta(seconds=30), 10, rng, cap) for _ in range(500)]
    assert all(0.8 * cap <= d <= 1.2 * cap for d in draws)
    assert DEFAULT_RETRY_CAP == timedelta(hours=1)
    assert retry_delay(SECOND, 40, random.Random(2)) <= 1.2 * DEFAULT_RETRY_CAP


def test_extreme_inputs_stay_finite() -> None:
    rng = random.Random(3)
    assert retry_delay(timedelta(days=366), 100, rng) <= 1.2 * DEFAULT_RETRY_CAP
    assert retry_delay(timedelta(0), 5, rng) == timedelta(0)
    assert retry_delay(SECOND, -1, random.Random(7)) == retry_delay(SECOND, 0, random.Random(7))
