"""Typed signals onto the signal topics (in-process and, with Redis, to
every replica), after the use case's transaction committed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from cronstream_server.core.ports import Signals
from cronstream_server.core.signals import (
    CANCEL,
    JOBS,
    RELEASE,
    REVOKED,
    WORK,
    JobsDue,
    KeysRevoked,
    ReleaseDue,
    Signal,
    StopExecution,
    WorkReady,
)
from cronstream_server.service.outcome import Outcome

T = TypeVar("T")


def topic_and_message(signal: Signal) -> tuple[str, str]:
    match signal:
        case JobsDue(at):
            return JOBS, at.isoformat()
        case WorkReady(platform_id):
            return WORK, platform_id
        case ReleaseDue(at):
            return RELEASE, at.isoformat()
        case StopExecution(execution_id):
            return CANCEL, execution_id  # a plain id: "cancelled"
        case KeysRevoked(subject):
            return REVOKED, subject
    raise AssertionError(f"unknown signal {signal!r}")


class Publisher:
    def __init__(self, signals: Signals) -> None:
        self._signals = signals

    async def publish(self, signals: Iterable[Signal]) -> None:
        for signal in signals:
            await self._signals.publish(*topic_and_message(signal))

    async def done(self, outcome: Outcome[T]) -> T:
        """Publishes what the outcome asks; its value."""
        await self.publish(outcome.signals)
        return outcome.value
