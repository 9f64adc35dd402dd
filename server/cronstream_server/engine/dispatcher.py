"""The dispatcher: one per replica, for all of its worker sessions.

Each round asks the sessions for their free slots, claims that many due
executions of their handlers in one transaction (`DispatchStore.claim`:
SKIP LOCKED, so replicas never claim the same row), and hands each to a
session. It runs a round when woken (a `work` signal from any replica, a
freed slot, a new session, a capacity change), at each instant a `due`
signal names (an execution the ticker fired ahead becomes due then), and
otherwise every `poll_interval`, so work is found even when a signal is lost
or a retry's backoff ends.

Two lanes, so that one platform's backlog never holds up another's
instants. A platform that starts a full want of the main lane (100 a want:
more of its work is due than a short round takes) goes to the bulk lane, whose
rounds take 1,000 a want, until a round there finds nothing; every other
platform is served by the main lane, at each wake-up and instant. Each
lane's rounds are sequential and a platform is in one round at a time, so
two rounds never offer the same free slots; a bursting platform's rounds (a
few hundred milliseconds each on a busy server) run beside the main lane's
short ones instead of before them (docs/scheduling.md, "Fairness between
platforms").

Each round claims `claim_ahead` early: an execution due within that much is
claimed now and its assignment sent at its due instant (`Session.hand`), so
the claim's transaction is done by the instant rather than started at it.
Due instants are on the database's clock, which decides what is due; the
dispatcher keeps the offset of its own clock to it, seen at each claim, and
a round that still came early is followed by another in time.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

from cronstream_server.background import Background, log_loop_failure, wait_set
from cronstream_server.core import dispatch as rules
from cronstream_server.core.clock_offset import OffsetEstimate
from cronstream_server.core.dispatch import Claimed, Pending, Seat, Start, Want
from cronstream_server.core.enums import ExecutionTrigger
from cronstream_server.core.ports import DispatchStore
from cronstream_server.engine.session import Session
from cronstream_server.engine.tracing import ExecutionTracer
from cronstream_server.telemetry.metrics import Fired, Metrics

log = logging.getLogger(__name__)

_ERROR_PAUSE = 1.0


class Dispatcher:
    def __init__(
        self,
        store: DispatchStore,
        sessions: Callable[[], Sequence[Session]],
        lease: timedelta,
        tracer: ExecutionTracer,
        poll_interval: float = 1.0,
        batch_size: int = 1000,
        main_batch_size: int = 100,
        claim_ahead: timedelta = timedelta(milliseconds=200),
        busy_claim_ahead: timedelta = timedelta(milliseconds=1000),
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics or Metrics(enabled=False)
        self._sessions = sessions
        self._lease = lease
        self._tracer = tracer
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        # The main lane claims at most this many per want: a platform with
        # more due is found out by a short round (it fills the want) and
        # handed to the bulk lane, whose rounds take `batch_size`.
        self._main_batch_size = main_batch_size
        self._quiet_claim_ahead = claim_ahead
        # While a platform is backlogged the server and the database are
        # busy with it: rounds, and the sends after them, take hundreds of
        # milliseconds instead of a few. The main lane then claims its
        # platforms' instants further ahead, so that what the burst costs
        # them is absorbed before their instants (the ticker fires further
        # ahead while it has a backlog too: engine.ticker).
        self._busy_claim_ahead = busy_claim_ahead
        self._wake = asyncio.Event()
        self._bulk_wake = asyncio.Event()
        self._loop = Background("dispatcher", self._run_main)
        self._bulk = Background("dispatcher-bulk", self._run_bulk)
        # Platforms with a burst (see `_sort_lanes`): the bulk lane's.
        self._backlogged: set[str] = set()
        # Platforms a round is claiming for right now: in no other round.
        self._in_round: set[str] = set()
        self._upcoming: list[datetime] = []  # due instants announced, sorted
        # When each was announced (a count of announcements): a round forgets
        # only the instants announced before it began, whose executions
        # were committed before it read (see `_served_by`).
        self._announced: dict[datetime, int] = {}
        self._busy_until: datetime | None = None  # see `busy_until`
        self._announcements = 0
        self._timer: asyncio.TimerHandle | None = None
        # The database's clock minus ours, never above the truth (see there).
        self._offset = OffsetEstimate()

    def start(self) -> None:
        self._loop.start()
        self._bulk.start()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self._loop.stop()
        await self._bulk.stop()

    def wake(self) -> None:
        self._wake.set()
        self._bulk_wake.set()

    def wake_for(self, platform_id: str) -> None:
        """A round of the lane that serves the platform: a slot its worker
        freed, work it was given. The main lane is not woken for a
        backlogged platform's results (a thousand a second in a burst, each
        an empty round of the main lane that the others' instants waited on)."""
        if platform_id in self._backlogged:
            self._bulk_wake.set()
        else:
            self._wake.set()

    @property
    def _claim_ahead(self) -> timedelta:
        busy = self._backlogged or (
            self._busy_until is not None and self.database_now() < self._busy_until
        )
        return self._busy_claim_ahead if busy else self._quiet_claim_ahead

    def busy_until(self, instant: datetime) -> None:
        """A ticker fires a backlog until about `instant` (a BUSY signal):
        claim further ahead until then."""
        if self._busy_until is None or instant > self._busy_until:
            self._busy_until = instant
            self._arm_timer()  # the claim-ahead grew: the next instant's round is sooner

    def due_at(self, instant: datetime) -> None:
        """Executions become due at `instant` (the database's clock): a round
        runs then."""
        self._announcements += 1
        if instant in self._announced:
            self._announced[instant] = self._announcements
            return
        self._announced[instant] = self._announcements
        bisect.insort(self._upcoming, instant)
        if self._upcoming[0] == instant:
            self._arm_timer()

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._upcoming:
            delay = self._until(self._upcoming[0] - self._claim_ahead)
            self._timer = asyncio.get_running_loop().call_later(delay, self.wake)

    def database_now(self) -> datetime:
        """Now on the database's clock, as the last claim saw it: the clock of
        every due instant, and of what a worker that holds assignments is told."""
        return datetime.now(UTC) + self._offset.offset

    def _until(self, instant: datetime) -> float:
        """Seconds from now on our clock to `instant` on the database's."""
        ours = instant - self._offset.offset
        return max(0.0, (ours - datetime.now(UTC)).total_seconds())

    def _claimed_at(self, claimed: Claimed, bulk: bool, began: int) -> None:
        """After a claim: the clock's offset is read again, and after one of
        the main lane (which serves every platform not backlogged), instants
        the claim reached are served (by this round, or by another replica)
        and the timer goes to the next one."""
        self._offset.read(claimed.now, claimed.sent_at, claimed.read_at)
        if not bulk:
            self._served_by(claimed.now + self._claim_ahead, began)

    def _served_by(self, reached: datetime, began: int | None = None) -> None:
        """Forgets the instants up to `reached` announced before the round
        that reached them began (`began`, the count of announcements then;
        None: all), and sets the timer for the next. An instant announced
        while the round ran may have executions the round's claim did not
        see (committed after it read): it keeps its timer."""
        served = bisect.bisect_right(self._upcoming, reached)
        kept = []
        for instant in self._upcoming[:served]:
            if began is not None and self._announced[instant] > began:
                kept.append(instant)
            else:
                del self._announced[instant]
        self._upcoming[:served] = kept
        self._arm_timer()

    async def _run_main(self) -> None:
        await self._run(self._wake, bulk=False)

    async def _run_bulk(self) -> None:
        await self._run(self._bulk_wake, bulk=True)

    async def _run(self, wake: asyncio.Event, bulk: bool) -> None:
        while True:
            wake.clear()
            try:
                if await self.round(bulk):
                    continue  # more may be due: go again before sleeping
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log_loop_failure(log, f"dispatch round failed (next try in {_ERROR_PAUSE}s)", error)
                await asyncio.sleep(_ERROR_PAUSE)
            await wait_set(wake, self._poll_interval)

    async def round(self, bulk: bool = False) -> int:
        """Claims and hands out what the free slots of one lane's platforms
        can take (the bulk lane's: the backlogged ones); returns how many."""
        seats = [
            session.seat()
            for session in self._sessions()
            if session.free > 0
            and (session.platform_id in self._backlogged) == bulk
            and session.platform_id not in self._in_round
        ]
        wants = rules.wants(seats, self._batch_size if bulk else self._main_batch_size)
        if not wants:
            if not bulk:
                # Nothing can be claimed now; instants that have come need no
                # timer (a freed slot wakes a round that claims all that is due).
                self._served_by(self.database_now())
            return 0
        platforms = {want.platform_id for want in wants}
        self._in_round |= platforms
        announced = self._announcements
        try:
            began = time.perf_counter()
            claimed = await self._store.claim(
                wants, self._claim_ahead, lambda found, now: self._decide(found, now, seats)
            )
            self._metrics.claim(time.perf_counter() - began, len(claimed.starts))
            self._claimed_at(claimed, bulk, announced)
            self._sort_lanes(wants, claimed.starts, bulk)
            if claimed.retry_at is not None:
                # Held back by a rate limit (or by another replica's claim of
                # its key): a round when its bucket next has a token.
                self.due_at(claimed.retry_at)
            await self._deliver(claimed.starts)
        finally:
            self._in_round -= platforms
        return len(claimed.starts)

    def _sort_lanes(self, wants: Sequence[Want], starts: Sequence[Start], bulk: bool) -> None:
        """A platform that started a full main-lane want (100) in one round
        has more due than a round there takes: the bulk lane's, until a round
        of it there finds nothing (while a ticker still writes a burst, a
        round may claim all that was written so far and more come a moment
        later). A platform whose few free slots bound its want (a worker that
        is always busy) stays in the main lane: its rounds are short."""
        if bulk:
            self._backlogged -= {w.platform_id for w in wants} - {
                s.execution.platform_id for s in starts
            }
            return
        claimed = Counter((s.execution.platform_id, s.execution.handler_name) for s in starts)
        filled = {
            w.platform_id
            for w in wants
            if claimed[(w.platform_id, w.handler_name)] >= self._main_batch_size
        }
        if filled:
            self._backlogged |= filled
            self._bulk_wake.set()
            self._arm_timer()  # the claim-ahead grew: the next instant's round is sooner

    def _decide(self, candidates: list[Pending], now: datetime, seats: list[Seat]) -> list[Start]:
        """Runs inside the claim's transaction: an attempt starts at the
        database's now, or at its due instant if that is later (claimed
        ahead); its lease and deadline count from then."""
        starts = []
        for execution, seat in rules.plan(candidates, seats):
            started_at = max(now, execution.due_at)
            starts.append(
                Start(
                    execution=execution,
                    session_id=seat.session_id,
                    worker_id=seat.worker_id,
                    started_at=started_at,
                    lease_expires_at=started_at + self._lease,
                    deadline_at=started_at + execution.timeout,
                    trace=self._tracer.stamp(execution),
                )
            )
        return starts

    def _lateness(self, starts: list[Start]) -> Iterator[Fired]:
        """First attempts as handed over: sent now, or at their instant when
        claimed ahead (`Session.hand` holds them until then), on the
        database's clock, after the instant they were due. Backfilled ones
        are late on purpose, and held back by their release rate: they would
        only blur what the histogram tells of live firings."""
        now = self.database_now()
        for start in starts:
            execution = start.execution
            if execution.attempt == 1 and execution.trigger is not ExecutionTrigger.BACKFILL:
                sent = max(now, start.started_at)
                yield Fired(
                    execution.platform_id,
                    execution.handler_name,
                    (sent - execution.due_at).total_seconds(),
                )

    async def _deliver(self, starts: list[Start]) -> None:
        by_id = {session.id: session for session in self._sessions()}
        undelivered: list[tuple[str, int]] = []
        delivered: list[Start] = []
        for start in starts:
            session = by_id.get(start.session_id)
            if session is None or not session.hand(start, self._until(start.started_at)):
                undelivered.append((start.execution.id, start.execution.attempt))
            else:
                delivered.append(start)
        self._metrics.fired(self._lateness(delivered))
        if undelivered:
            # The session closed or shrank while the claim ran.
            await self._store.release_attempts(undelivered)
            self.wake()
