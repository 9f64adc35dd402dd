"""The dispatcher's estimate of the database's clock (core.clock_offset):
never ahead of it, tight despite slow readings, and right again after a jump."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cronstream_server.core.clock_offset import OffsetEstimate

T0 = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
TRUE = timedelta(milliseconds=40)  # the database runs 40 ms ahead of us
MS = timedelta(milliseconds=1)


def reading(
    estimate: OffsetEstimate, at: datetime, before: timedelta, after: timedelta
) -> timedelta:
    """A reading taken at `at` (our clock), sent `before` earlier and answered
    `after` later: the database read its clock at `at`."""
    return estimate.read(at + TRUE, at - before, at + after)


def test_the_estimate_is_a_lower_bound_and_the_tightest_one_seen() -> None:
    estimate = OffsetEstimate()
    assert reading(estimate, T0, MS, MS) == TRUE - MS
    # The loop was 300 ms slow to take this answer: the estimate keeps the tighter one.
    assert reading(estimate, T0 + 100 * MS, MS, 300 * MS) == TRUE - MS
    assert reading(estimate, T0 + 200 * MS, MS, MS / 10) == TRUE - MS / 10
    assert estimate.offset <= TRUE  # never ahead: a start is never early


def test_readings_older_than_the_window_are_forgotten() -> None:
    estimate = OffsetEstimate(window=timedelta(seconds=10))
    reading(estimate, T0, MS, MS / 10)
    later = T0 + timedelta(seconds=11)
    assert reading(estimate, later, MS, 5 * MS) == TRUE - 5 * MS


def test_a_clock_that_jumped_back_restarts_the_estimate() -> None:
    estimate = OffsetEstimate()
    reading(estimate, T0, MS, MS / 10)
    # The database's clock stepped back 2 s: its readings now say the offset
    # is at most TRUE - 2 s + 1 ms, below the estimate: the old ones are void.
    at = T0 + timedelta(seconds=1)
    back = estimate.read(at + TRUE - timedelta(seconds=2), at - MS, at + 2 * MS)
    assert back == TRUE - timedelta(seconds=2) - 2 * MS


def test_a_clock_that_jumped_forward_is_followed_at_once() -> None:
    estimate = OffsetEstimate()
    reading(estimate, T0, MS, MS)
    at = T0 + timedelta(seconds=1)
    ahead = estimate.read(at + TRUE + timedelta(seconds=2), at - MS, at + MS)
    assert ahead == TRUE + timedelta(seconds=2) - MS
