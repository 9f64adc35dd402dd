"""What use cases ask to publish, and how it goes onto the signal topics."""

from __future__ import annotations

from datetime import UTC, datetime

from cronstream_server.core.signals import (
    JobsDue,
    KeysRevoked,
    StopExecution,
    WorkReady,
    jobs_changed,
)
from cronstream_server.service.outcome import Outcome
from cronstream_server.service.publish import Publisher, topic_and_message
from cronstream_server.signals import LocalSignals

AT = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)


def test_each_signal_has_its_topic_and_message() -> None:
    assert topic_and_message(JobsDue(AT)) == ("jobs", "2026-12-06T07:00:00+00:00")
    assert topic_and_message(WorkReady("p1")) == ("work", "p1")
    assert topic_and_message(StopExecution("e1")) == ("cancel", "e1")
    assert topic_and_message(KeysRevoked("k1")) == ("revoked", "k1")


def test_no_active_job_with_a_next_run_wakes_no_ticker() -> None:
    assert jobs_changed([]) == ()


async def test_the_publisher_publishes_then_hands_back_the_value() -> None:
    signals = LocalSignals()
    heard: list[tuple[str, str]] = []
    signals.listen("work", lambda message: heard.append(("work", message)))
    signals.listen("revoked", lambda message: heard.append(("revoked", message)))

    value = await Publisher(signals).done(Outcome(42, (WorkReady("p1"), KeysRevoked("k1"))))

    assert value == 42
    assert heard == [("work", "p1"), ("revoked", "k1")]
