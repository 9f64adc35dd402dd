"""This replica's worker sessions, reported to the cluster's registry
(core.workers) so that ListWorkers answers for every replica.

Off every stream's path: a hello returns before its row is written. A pass
runs soon after a session opens or closes (a burst of them is one pass) and
every `REPORT_SECONDS`; the periodic pass rewrites the rows of all sessions
(slots, slots in use, last_seen) as one statement, so what a message changes
costs no write of its own. A pass that fails (the database unreachable) is
logged and the next full pass carries its work: what ended is remembered
until deleted, and a full pass writes every live session anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from datetime import UTC, datetime

from cronstream_server.background import Background, log_loop_failure, wait_set
from cronstream_server.core.errors import Unavailable
from cronstream_server.core.ports import WorkerRegistry
from cronstream_server.core.workers import FRESH_FOR, REPORT_SECONDS, ConnectedWorker
from cronstream_server.engine.session import Session

log = logging.getLogger(__name__)

# Sessions that open or close within this are reported in one pass.
LINGER_SECONDS = 0.02
# What a stopping replica gives the deletion of its rows (then they go stale).
FORGET_TIMEOUT_SECONDS = 2.0


def replica_name() -> str:
    """This replica's name in the registry: host and process, and a random
    part, since one process may run several servers (tests do)."""
    return f"{socket.gethostname()[:160]}:{os.getpid()}:{secrets.token_hex(4)}"


def reported(session: Session, replica: str) -> ConnectedWorker:
    return ConnectedWorker(
        session_id=session.id,
        platform_id=session.platform_id,
        worker_id=session.worker_id,
        handler_names=tuple(sorted(session.handler_names)),
        slots=session.slots,
        slots_in_use=session.in_use,
        connected_at=session.connected_at,
        last_seen=datetime.fromtimestamp(session.last_seen, UTC),
        replica=replica,
    )


class SessionReporter:
    def __init__(
        self, registry: WorkerRegistry, replica: str, interval: float = REPORT_SECONDS
    ) -> None:
        self.replica = replica
        self._registry = registry
        self._interval = interval
        self._live: dict[str, Session] = {}
        self._unwritten: dict[str, Session] = {}  # opened, no pass has written it yet
        self._ended: set[str] = set()  # closed, not deleted yet
        self._changed = asyncio.Event()
        self._task = Background("worker session reports", self._run)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        """Stops reporting and deletes this replica's rows (best effort: if
        the database does not answer in time they go stale instead)."""
        await self._task.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FORGET_TIMEOUT_SECONDS):
                try:
                    await self._registry.forget(self.replica)
                except Unavailable as error:
                    log.warning("worker sessions not removed from the registry: %s", error.message)

    def opened(self, session: Session) -> None:
        self._live[session.id] = session
        self._unwritten[session.id] = session
        self._changed.set()

    def closed(self, session: Session) -> None:
        if self._live.pop(session.id, None) is None:
            return
        self._unwritten.pop(session.id, None)
        self._ended.add(session.id)
        self._changed.set()

    async def report(self, *, full: bool) -> None:
        """One pass: the sessions opened since the last one (all of them
        when `full`) are written, those closed are deleted."""
        sessions = list((self._live if full else self._unwritten).values())
        ended = set(self._ended)
        rows = [reported(session, self.replica) for session in sessions]
        await self._registry.report(rows, ended, FRESH_FOR)
        self._ended -= ended
        for session in sessions:
            self._unwritten.pop(session.id, None)

    async def _run(self) -> None:
        next_full = 0.0  # time.monotonic() of the next full pass
        while True:
            self._changed.clear()
            full = time.monotonic() >= next_full
            try:
                await self.report(full=full)
            except Exception as error:
                log_loop_failure(log, "worker sessions not reported", error)
                next_full = 0.0  # the next pass rewrites everything
                await asyncio.sleep(self._interval)
                continue
            if full:
                next_full = time.monotonic() + self._interval
            if await wait_set(self._changed, max(next_full - time.monotonic(), 0.0)):
                await asyncio.sleep(LINGER_SECONDS)
