"""A worker session handing out assignments claimed ahead of their instants:
the slot is held at once, the message leaves at the instant, built at the claim."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from cronstream_server.core.dispatch import Pending, Start, TraceStamp
from cronstream_server.core.enums import ExecutionTrigger, Priority
from cronstream_server.engine.session import End, Hello, Prepared, Session, Welcome

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def start(execution_id: str) -> Start:
    pending = Pending(
        id=execution_id,
        platform_id="p",
        job_id="j",
        handler_name="h",
        payload=None,
        priority=Priority.MEDIUM,
        scheduled_at=NOW,
        due_at=NOW,
        attempt=1,
        timeout=timedelta(minutes=5),
        trigger=ExecutionTrigger.SCHEDULE,
    )
    trace = TraceStamp("a" * 32, "b" * 16, None, f"00-{'a' * 32}-{'b' * 16}-01", "")
    return Start(pending, "s", "w", NOW, NOW + timedelta(seconds=30), NOW, trace)


class Freed:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def session(slots: int = 2, freed: Freed | None = None, size: int = 100) -> Session:
    welcome = Welcome("s", timedelta(seconds=10), timedelta(seconds=30))
    hello = Hello("w", frozenset({"h"}), slots, accepts_batches=True)
    return Session(
        "s",
        "p",
        hello,
        welcome,
        freed or Freed(),
        prepare=lambda s: (f"built {s.execution.id}", size),
    )


def built(execution_id: str) -> Prepared:
    return Prepared(start(execution_id), f"built {execution_id}", 100)


async def after_welcome(worker: Session, within: float) -> list[object]:
    """What the session sends after its welcome, waiting at most `within`."""
    assert await worker.outgoing() == worker._welcome
    try:
        return list(await asyncio.wait_for(worker.outgoing_ready(10), within))
    except TimeoutError:
        return []


async def test_an_assignment_due_later_holds_its_slot_now_and_leaves_at_its_instant() -> None:
    worker = session(slots=1)

    assert worker.hand(start("e1"), delay=0.2)
    assert worker.free == 0 and worker.holds("e1")
    assert await after_welcome(worker, within=0.1) == []  # not before its instant

    sent = await asyncio.wait_for(worker.outgoing_ready(10), 1.0)
    assert sent == [built("e1")]  # built at the claim


async def test_an_assignment_due_now_leaves_at_once() -> None:
    worker = session()

    assert worker.hand(start("e1"))

    assert await after_welcome(worker, within=0.1) == [built("e1")]


async def test_cancelling_an_assignment_not_yet_sent_never_sends_it() -> None:
    freed = Freed()
    worker = session(freed=freed)
    worker.hand(start("e1"), delay=0.2)

    worker.cancel("e1", "cancelled by a user")

    assert not worker.holds("e1") and worker.free == 2 and freed.count == 1
    assert await after_welcome(worker, within=0.4) == []  # neither the assignment nor a cancel


async def test_a_closed_session_sends_nothing_it_held_back_and_still_holds_it() -> None:
    worker = session()
    worker.hand(start("e1"), delay=0.1)

    worker.close(End.WORKER_LEFT)
    await asyncio.sleep(0.2)

    assert worker.held() == [("e1", 1)]  # for the hub to hand back
    assert await worker.outgoing() == worker._welcome
    assert await worker.outgoing() is None


async def test_assignments_due_together_leave_together_and_never_early() -> None:
    worker = session(slots=3)
    assert await worker.outgoing() == worker._welcome
    handed_at = time.monotonic()

    for execution_id in ("e1", "e2", "e3"):
        assert worker.hand(start(execution_id), delay=0.05)
    worker.cancel("e2", "cancelled by a user")

    sent = await asyncio.wait_for(worker.outgoing_ready(10), 1.0)
    assert time.monotonic() - handed_at >= 0.05  # not a moment before the instant
    assert sent == [built("e1"), built("e3")]


async def test_a_worker_that_stops_reading_gets_no_more_than_the_outbox_holds() -> None:
    # A worker with 10,000 slots and 3 MiB assignments: only what fits in the
    # outbox's bytes is built and held for it; the rest waits in the database.
    freed = Freed()
    worker = session(slots=10_000, freed=freed, size=3 * 1024 * 1024)
    handed = 0
    while worker.free > 0:
        assert worker.hand(start(f"e{handed}"))
        handed += 1
    assert handed == 3 and worker.unsent_bytes == 9 * 1024 * 1024

    assert await worker.outgoing() == worker._welcome
    taken = await worker.outgoing_ready(10)
    worker.sent(taken)  # the stream wrote them: room again, and the dispatcher is told

    assert worker.unsent_bytes == 0 and worker.free == 10_000 - 3
    assert freed.count == 1


async def test_an_assignment_cancelled_before_its_instant_frees_its_bytes() -> None:
    worker = session(size=1000)
    worker.hand(start("e1"), delay=5.0)
    assert worker.unsent_bytes == 1000

    worker.cancel("e1", "cancelled by a user")

    assert worker.unsent_bytes == 0
    worker.close(End.WORKER_LEFT)
