"""Engine loops stop when asked, even when woken at the moment they are cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from cronstream_server.background import Background, log_loop_failure, wait_set
from cronstream_server.core.errors import Unavailable


async def test_a_loop_woken_as_it_is_cancelled_still_stops() -> None:
    # The shutdown race behind a hung SIGTERM: stopping the server wakes the
    # dispatcher (executions handed back) in the same loop turn as it cancels it.
    wake = asyncio.Event()
    rounds = 0

    async def run() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            wake.clear()
            await wait_set(wake, 60.0)

    loop = Background("loop", run)
    loop.start()
    await asyncio.sleep(0)
    wake.set()
    async with asyncio.timeout(5.0):
        await loop.stop()
    assert not loop.running
    assert rounds == 1


async def test_wait_set_tells_a_wake_from_a_timeout() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    event.set()
    assert await wait_set(event, 60.0) is True


async def test_stop_before_start_and_twice_is_harmless() -> None:
    loop = Background("idle", lambda: asyncio.sleep(3600))
    await loop.stop()
    loop.start()
    assert loop.running
    await loop.stop()
    await loop.stop()
    assert loop.started and not loop.running


async def test_a_loop_that_swallows_one_cancellation_is_cancelled_again() -> None:
    ended = asyncio.Event()

    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        try:
            await asyncio.sleep(3600)
        finally:
            ended.set()

    loop = Background("stubborn", stubborn)
    loop.start()
    await asyncio.sleep(0)
    async with asyncio.timeout(5.0):
        await loop.stop()
    assert ended.is_set()


def test_a_lost_database_is_one_warning_line_and_a_bug_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lost = Unavailable("database unavailable: ConnectionRefusedError")
    logger = logging.getLogger("loop")
    with caplog.at_level(logging.WARNING, "loop"):
        log_loop_failure(logger, "tick failed", lost)
        # Two lanes' transactions, both without a database (a TaskGroup's group).
        log_loop_failure(logger, "tick failed", ExceptionGroup("lanes", [lost, lost]))
        log_loop_failure(logger, "tick failed", ExceptionGroup("lanes", [lost, KeyError("x")]))
    levels = [(r.levelname, r.exc_info is not None) for r in caplog.records]
    assert levels == [("WARNING", False), ("WARNING", False), ("ERROR", True)]
