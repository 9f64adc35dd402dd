"""The Python worker's hold (cronstream._hold): how long after an
`assignments` message arrives each of its assignments starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cronstream._hold import MAX_HOLD_SECONDS, hold_seconds
from cronstream.v1 import worker_service_pb2 as wpb

SENT = datetime(2026, 12, 6, 23, 59, 59, 900_000, tzinfo=UTC)


def held(start_in: timedelta | None, sent: bool = True) -> tuple[wpb.Assignment, wpb.Assignments]:
    batch = wpb.Assignments(assignments=[wpb.Assignment(execution_id="e1")])
    if sent:
        batch.sent_at.FromDatetime(SENT)
    if start_in is not None:
        batch.assignments[0].start_at.FromDatetime(SENT + start_in)
    return batch.assignments[0], batch


@pytest.mark.parametrize(
    ("start_in", "expected"),
    [
        (timedelta(milliseconds=200), 0.2),  # across a second boundary: nanos borrow
        (timedelta(microseconds=1), 0.000001),
        (timedelta(0), 0.0),
        (timedelta(milliseconds=-5), 0.0),  # its instant passed on the way: at once
        (timedelta(hours=1), MAX_HOLD_SECONDS),  # a bad reading is not a reason to wait
    ],
)
def test_the_hold_is_the_difference_of_the_two_server_times(
    start_in: timedelta, expected: float
) -> None:
    assert hold_seconds(*held(start_in)) == pytest.approx(expected, abs=1e-9)


def test_without_both_times_it_starts_at_once() -> None:
    assert hold_seconds(*held(None)) == 0.0
    assert hold_seconds(*held(timedelta(milliseconds=200), sent=False)) == 0.0
