"""The worker side of a replica: its sessions, dispatcher, reaper and writers.

Shutdown runs in two steps (see `cronstream_server.server`):
  1. `drain()`, before the gRPC server stops: every session is sent `drain`
     and gets no new assignment; results are applied for up to the grace
     period; then what is still running goes back to pending (as a new
     attempt) and the streams end with UNAVAILABLE;
  2. `stop()`, after the gRPC server stopped: the dispatcher and reaper
     stop, any session left is released, queued logs are written, and the
     replica's rows leave the cluster's registry of sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cronstream_server.background import Background, log_loop_failure, wait_set
from cronstream_server.core.dispatch import Report, Start, Verdict
from cronstream_server.core.errors import Unavailable
from cronstream_server.core.executions import ExecutionLog
from cronstream_server.core.ids import new_id
from cronstream_server.core.ports import DispatchStore, Signals
from cronstream_server.core.quotas import DEFAULT_WORKER_STREAMS, check_worker_streams
from cronstream_server.core.retry import DEFAULT_RETRY_CAP
from cronstream_server.core.signals import BUSY, CANCEL, DUE, REVOKED, WORK
from cronstream_server.engine.batcher import Batcher
from cronstream_server.engine.dispatcher import Dispatcher
from cronstream_server.engine.reaper import REASON_LEASE_LOST, Reaper, parse_cancel
from cronstream_server.engine.session import Ack, Cancel, End, Hello, Session, Welcome
from cronstream_server.engine.session_reports import SessionReporter
from cronstream_server.engine.tracing import ExecutionTracer
from cronstream_server.telemetry.logs import listed, log_ids
from cronstream_server.telemetry.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Received:
    """A result as received from a session, with its size on the wire."""

    session: Session
    report: Report
    size: int

    def weight(self) -> int:
        return self.size + _OVERHEAD_BYTES


def _log_weight(line: ExecutionLog) -> int:
    return len(line.message) + _OVERHEAD_BYTES


# What an item held in memory costs beyond its text or value (objects, ids).
_OVERHEAD_BYTES = 512


@dataclass(frozen=True)
class StreamSettings:
    lease: timedelta = timedelta(seconds=30)
    heartbeat: timedelta = timedelta(seconds=10)
    reaper_interval: float = 1.0
    retry_cap: timedelta = DEFAULT_RETRY_CAP
    grace: float = 10.0
    poll_interval: float = 1.0
    result_linger: float = 0.005
    # Worker streams one platform may hold open on this replica (0: no limit).
    max_streams: int = DEFAULT_WORKER_STREAMS
    # How often the API keys of open streams are checked against the
    # database (a revocation signal checks at once).
    key_check_interval: float = 2.0
    # Most results settled in one transaction. Settling costs a round trip
    # per statement whatever the batch, so under load bigger batches free
    # slots sooner (W1: 1,000 gave ~10% more executions/s than 500).
    result_batch: int = 1000
    log_linger: float = 0.05


class WorkerHub:
    def __init__(
        self,
        store: DispatchStore,
        signals: Signals,
        settings: StreamSettings = StreamSettings(),
        tracer: ExecutionTracer | None = None,
        rng: random.Random | None = None,
        live_keys: Callable[[Collection[str]], Awaitable[set[str]]] | None = None,
        metrics: Metrics | None = None,
        on_settled: Callable[[], None] = lambda: None,
        reporter: SessionReporter | None = None,
    ) -> None:
        """`live_keys` (AdminStore.live_keys) tells which of the sessions'
        API keys still hold; without it, sessions are never revoked.
        `on_settled` is called once a batch of results is stored: slots
        waiting for a success may go, and a BUFFER_ONE backfill's next
        execution once the one before finished, whatever its end
        (engine.gate). `reporter` tells the cluster's registry which
        sessions this replica serves (ListWorkers)."""
        self._store = store
        self._reporter = reporter
        self._on_settled = on_settled
        self._signals = signals
        self._settings = settings
        self._rng = rng or random.Random()
        self._sessions: dict[str, Session] = {}
        self._draining = False
        self._no_sessions = asyncio.Event()
        self._closing: set[asyncio.Task[None]] = set()
        self.dispatcher = Dispatcher(
            store,
            self.sessions,
            settings.lease,
            tracer or ExecutionTracer(),
            settings.poll_interval,
            metrics=metrics,
        )
        self._reaper = Reaper(
            store, signals, settings.reaper_interval, settings.retry_cap, self._rng
        )
        # What the workers sent and the database has not stored yet, bounded
        # in bytes: through an outage it waits, then the streams wait.
        self._results = Batcher[_Received](
            "results",
            self._write_results,
            settings.result_linger,
            settings.result_batch,
            weigh=_Received.weight,
        )
        self._logs = Batcher[ExecutionLog](
            "logs",
            store.add_logs,
            settings.log_linger,
            max_bytes_queued=16 * 1024 * 1024,
            weigh=_log_weight,
        )
        self._heartbeats = Batcher[tuple[Session, list[str]]](
            "heartbeats", self._write_heartbeats, settings.log_linger
        )
        self._live_keys = live_keys
        self._keys_changed = asyncio.Event()
        self._key_check = Background("key-check", self._check_keys_loop)
        self._unlisten = [
            signals.listen(REVOKED, lambda _: self._keys_changed.set()),
            signals.listen(WORK, self.dispatcher.wake_for),
            signals.listen(CANCEL, self._on_cancel),
            signals.listen(DUE, self._on_due),
            signals.listen(BUSY, self._on_busy),
        ]

    def start(self) -> None:
        for batcher in (self._results, self._logs, self._heartbeats):
            batcher.start()
        self.dispatcher.start()
        self._reaper.start()
        if self._live_keys is not None:
            self._key_check.start()
        if self._reporter is not None:
            self._reporter.start()

    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    def connected(self, platform_id: str) -> int:
        """Worker sessions of the platform on this replica."""
        return sum(1 for s in self._sessions.values() if s.platform_id == platform_id)

    # --- sessions -------------------------------------------------------------

    async def open(
        self,
        platform_id: str,
        hello: Hello,
        prepare: Callable[[Start], tuple[Any, int]] | None = None,
        key_id: str = "",
    ) -> Session:
        """A new session, welcomed; the attempts its hello lists as running
        stay with it when still current, and are cancelled otherwise.
        `prepare` builds an assignment's wire message ahead of its instant;
        `key_id` is the API key that opened the stream (see `check_keys`)."""
        if self._draining:
            raise Unavailable("the server is shutting down; reconnect to another replica")
        check_worker_streams(self.connected(platform_id), self._settings.max_streams)
        welcome = Welcome(new_id(), self._settings.heartbeat, self._settings.lease)
        session = Session(
            welcome.session_id,
            platform_id,
            hello,
            welcome,
            functools.partial(self.dispatcher.wake_for, platform_id),
            prepare,
            key_id=key_id,
        )
        kept, released = await self._store.rebind(
            platform_id, (session.id, hello.worker_id), hello.running, self._settings.lease
        )
        session.adopt(attempt for attempt in hello.running if attempt[0] in kept)
        for execution_id, _ in hello.running:
            if execution_id not in kept:
                session.send(Cancel(execution_id, REASON_LEASE_LOST))
        self._sessions[session.id] = session
        self._no_sessions.clear()
        if self._reporter is not None:
            self._reporter.opened(session)
        _log_connected(session, len(kept), len(hello.running) - len(kept))
        if self._draining:  # shutdown began while the hello was being checked
            session.drain()
        if released:
            log.info(
                "worker reconnected without %d executions an earlier session of it was given; "
                "they run again: %s",
                len(released),
                listed(execution_id for execution_id, _ in released),
                extra=_ids(session),
            )
        await self._announce(released)  # wakes the dispatcher either way
        return session

    async def close(self, session: Session, end: End = End.WORKER_LEFT) -> None:
        """Ends a session and hands back what it still runs (idempotent).
        Runs to the end even when the caller is cancelled (a call whose client
        vanished is), and `stop` waits for it."""
        task = asyncio.create_task(self._close(session, end))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        await asyncio.shield(task)

    async def _close(self, session: Session, end: End) -> None:
        """Results the session sent are applied first, so they are not
        refused as stale by the release."""
        session.close(end)
        end = session.end or end  # closed earlier by the hub: that end stands
        if self._sessions.pop(session.id, None) is None:
            return
        if self._reporter is not None:
            self._reporter.closed(session)
        if not self._sessions:
            self._no_sessions.set()
        released: Sequence[tuple[str, str]] = ()
        try:  # the line is logged even when the database refuses the release
            await self._results.flush()
            released = await self._store.release_sessions(
                [session.id], worker_lost=end is End.WORKER_LEFT
            )
        finally:
            _log_disconnected(session, len(released))
        await self._announce(released)

    async def _announce(self, released: Sequence[tuple[str, str]]) -> None:
        for platform_id in sorted({platform_id for _, platform_id in released}):
            await self._signals.publish(WORK, platform_id)
        self.dispatcher.wake()

    # --- revocation ------------------------------------------------------------

    async def check_keys(self) -> int:
        """Ends the sessions whose API key was revoked or whose platform was
        deleted, from any replica; returns how many. Their streams end
        UNAUTHENTICATED and what they ran goes back to pending."""
        key_ids = {s.key_id for s in self._sessions.values() if s.key_id}
        if not key_ids or self._live_keys is None:
            return 0
        live = await self._live_keys(key_ids)
        revoked = [s for s in self.sessions() if s.key_id and s.key_id not in live]
        for session in revoked:
            # At DEBUG: the session's disconnect line says it at INFO.
            log.debug("worker stream %s: its API key was revoked", session.id, extra=_ids(session))
            session.close(End.REVOKED)  # its Connect call ends and hands back its work
        return len(revoked)

    async def _check_keys_loop(self) -> None:
        while True:
            try:
                await self.check_keys()
            except Exception as error:
                log_loop_failure(log, "key check failed", error)
            self._keys_changed.clear()
            await wait_set(self._keys_changed, self._settings.key_check_interval)

    # --- what workers send ----------------------------------------------------

    async def result(self, session: Session, report: Report, size: int = 0) -> None:
        """Queues a result to settle; `size` is its size on the wire (what it
        costs to hold while the database is unreachable)."""
        await self._results.put(_Received(session, report, size))

    async def log(self, session: Session, line: ExecutionLog) -> None:
        """Stores a log line of an attempt the session holds; others are dropped
        (a worker may only write to its own executions' logs)."""
        if session.holds(line.execution_id):
            await self._logs.put(line)

    async def heartbeat(self, session: Session, execution_ids: Sequence[str]) -> None:
        current = session.heartbeat(execution_ids)
        if current:
            await self._heartbeats.put((session, current))

    async def _write_results(self, batch: list[_Received]) -> None:
        """Settles results and acknowledges them. The log lines a worker sent
        before a result are stored first: an acknowledgement means everything
        the worker sent earlier for that execution is stored."""
        if self._logs.pending:
            await self._logs.flush()
        verdicts = await self._store.settle(
            [received.report for received in batch], self._rng, self._settings.retry_cap
        )
        applied = zip(batch, verdicts, strict=True)
        if any(v is Verdict.APPLY for _, v in applied):
            self._on_settled()
        keyed_ended: set[str] = set()
        for received, verdict in zip(batch, verdicts, strict=True):
            session, report = received.session, received.report
            if verdict is Verdict.APPLY and session.keyed(report.execution_id):
                keyed_ended.add(report.platform_id)
            if verdict is not Verdict.APPLY:
                log.debug(
                    "result %s/%d: %s",
                    report.execution_id,
                    report.attempt,
                    verdict,
                    extra=_ids(session, report.execution_id),
                )
            session.send(Ack(report.execution_id))  # before `finish`, which may close
            session.finish(report.execution_id, report.attempt)
        # A place under a concurrency key came free: executions waiting for
        # it may be served by another replica's workers, so every replica
        # looks (this one's freed slot wakes its own dispatcher anyway).
        for platform_id in sorted(keyed_ended):
            await self._signals.publish(WORK, platform_id)

    async def _write_heartbeats(self, batch: list[tuple[Session, list[str]]]) -> None:
        pairs = [(execution_id, s.id) for s, ids in batch for execution_id in ids]
        extended = await self._store.extend_leases(pairs, self._settings.lease)
        for session, ids in batch:
            lost = [i for i in ids if (i, session.id) not in extended]
            for execution_id in lost:
                session.cancel(execution_id, REASON_LEASE_LOST)
            if lost:
                log.info(
                    "heartbeat for %d executions whose lease this worker lost; "
                    "it is told to cancel them: %s",
                    len(lost),
                    listed(lost),
                    extra=_ids(session),
                )

    def _on_busy(self, message: str) -> None:
        if (instant := _instant(BUSY, message)) is not None:
            self.dispatcher.busy_until(instant)

    def _on_due(self, message: str) -> None:
        if (instant := _instant(DUE, message)) is not None:
            self.dispatcher.due_at(instant)

    def _on_cancel(self, message: str) -> None:
        cancel = parse_cancel(message)
        for session in self._sessions.values():
            if session.holds(cancel.execution_id):
                ids = _ids(session, cancel.execution_id)
                log.debug("the worker is told to cancel (%s)", cancel.reason, extra=ids)
                session.cancel(cancel.execution_id, cancel.reason)

    # --- shutdown -------------------------------------------------------------

    async def drain(self) -> None:
        """Step 1 of shutdown (see the module docstring)."""
        self._draining = True
        for session in self.sessions():
            session.drain()
        # A draining session ends by itself once it holds nothing more.
        if self._sessions:
            await wait_set(self._no_sessions, self._settings.grace)
        await self._release_all(End.DRAINED)

    async def stop(self) -> None:
        """Step 2 of shutdown (see the module docstring)."""
        self._draining = True
        for unlisten in self._unlisten:
            unlisten()
        await self.dispatcher.stop()
        await self._reaper.stop()
        await self._key_check.stop()
        await self._release_all(End.DRAINED)
        while any(not task.done() for task in self._closing):  # closes still writing
            await asyncio.gather(*self._closing, return_exceptions=True)
        for batcher in (self._results, self._logs, self._heartbeats):
            await batcher.stop()
        if self._reporter is not None:
            await self._reporter.stop()

    async def _release_all(self, end: End) -> None:
        """Closes every session and hands back what they ran. With the database
        unreachable this gives up after the grace period: the leases of what
        could not be handed back expire and the reaper retries them."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settings.grace):
                await self._results.flush()
        sessions = self.sessions()
        self._sessions.clear()
        for session in sessions:
            session.close(end)
            if self._reporter is not None:
                self._reporter.closed(session)
            _log_disconnected(session)
        try:
            released = await self._store.release_sessions(
                [s.id for s in sessions], worker_lost=end is End.WORKER_LEFT
            )
        except Unavailable as error:
            log.warning("could not hand back unfinished executions (%s)", error.message)
            return
        if released:
            log.info("handed back %d unfinished executions", len(released))
            await self._announce(released)


def _instant(topic: str, message: str) -> datetime | None:
    """The instant (UTC) a `due` or `busy` signal carries, or None (logged)."""
    try:
        instant = datetime.fromisoformat(message)
    except ValueError:
        log.warning("ignored a %s signal without an instant: %r", topic, message)
        return None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _ids(session: Session, execution_id: str = "") -> dict[str, str]:
    return log_ids(
        platform_id=session.platform_id, worker_id=session.worker_id, execution_id=execution_id
    )


def _log_connected(session: Session, resumed: int, moved_on: int) -> None:
    """`resumed`: executions its hello named that stay with it; `moved_on`:
    the others it named, handed out again meanwhile, which it is told to cancel."""
    resuming = f"; resumes {resumed} running executions" if resumed else ""
    cancelling = f"; told to cancel {moved_on} that moved on" if moved_on else ""
    log.info(
        "worker connected: session %s, %d slots, handlers %s%s%s",
        session.id,
        session.slots,
        listed(sorted(session.handler_names)),
        resuming,
        cancelling,
        extra=_ids(session),
    )


def _log_disconnected(session: Session, handed_back: int = 0) -> None:
    """One line per session, however it ended (`handed_back`: executions it
    held that go back to pending, when known here)."""
    log.info(
        "worker disconnected (%s): session %s%s",
        session.why,
        session.id,
        f"; {handed_back} executions it held are handed back" if handed_back else "",
        extra=_ids(session),
    )
