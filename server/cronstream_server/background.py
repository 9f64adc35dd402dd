"""Background loops: one way to start, wake and stop them.

Every loop of the server (the engine's ticker, dispatcher, reaper and
batchers, the Redis signals' relay) is a task that waits on an event with a
timeout and must end when the server stops. Python 3.11's `asyncio.wait_for`
can swallow a cancellation when what it waits for completes at the same
moment (CPython gh-86296): a `stop` that wakes a loop as it cancels it then
waits forever. `wait_set` uses `asyncio.timeout`, which keeps
the cancellation, and `Background.stop` cancels again until the task is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from cronstream_server.core.errors import Unavailable

log = logging.getLogger(__name__)


def log_loop_failure(logger: logging.Logger, what: str, error: Exception) -> None:
    """How a background loop reports a failed pass before it tries again. An
    unreachable database is weather, not a bug: one line, no traceback (the
    loop retries and the health check says NOT_SERVING meanwhile)."""
    transient = _only_unavailable(error)
    if transient is not None:
        logger.warning("%s: %s; retrying", what, transient.message)
    else:
        logger.error("%s", what, exc_info=error)


def _only_unavailable(error: BaseException) -> Unavailable | None:
    """The Unavailable behind `error` when nothing else is (a TaskGroup's
    exception group of side-by-side transactions that all lost the database)."""
    if isinstance(error, Unavailable):
        return error
    if isinstance(error, BaseExceptionGroup):
        found, rest = error.split(Unavailable)
        if found is not None and rest is None:
            return _only_unavailable(found.exceptions[0])
    return None


# How long `stop` waits for a cancelled task before cancelling it again.
_RECANCEL_AFTER_SECONDS = 1.0


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Waits until `event` is set or `seconds` pass; True if it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


class Background:
    """One named task running `run()` from `start` until `stop`."""

    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        return self._task is not None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Cancels the task and returns once it has ended."""
        task = self._task
        if task is None:
            return
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=_RECANCEL_AFTER_SECONDS)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s ended with an error", self._name, exc_info=error)
