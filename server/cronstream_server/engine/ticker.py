"""The ticker: turns due jobs into pending executions, once per slot.

Each tick is one transaction of the TickerStore: claim due jobs (SKIP
LOCKED), decide their slots (core.firing, in `_plan`, pure), insert the
executions (a slot that already has one is skipped by its unique index), and
move each job to its next slot. First, in the same transaction, it resumes
the paused jobs whose `until` has come (TickerStore.tick's `resume`), so
the slots those jobs now have are fired by the same tick. Between ticks it
sleeps until the earliest next_run or `until`, or until a `jobs` signal
says a job may be due sooner, or at most `max_sleep` (the fallback poll,
should a signal be lost).

Slots are fired `fire_ahead` before their instants (for jobs that allow it,
core.firing.fires_ahead): the execution is written early, due at the instant,
and a `due` signal tells the dispatchers when to claim it. So the ticker's
work (reading jobs, computing next slots, writing rows) is done by the
instant, and a thousand jobs due at one second start at that second rather
than after a thousand rows were written.

Two lanes, as the dispatcher has (docs/scheduling.md, "Fairness between
platforms"). The main lane's passes serve every platform, at most
`main_share` due jobs of each; a platform that fills that share in one pass
is bursting, and from then on a bulk lane fires its jobs alone, a batch a
pass (`lanes` transactions side by side), until a pass of it finds none due.
Meanwhile the main lane keeps its own short passes for everyone else: the
few slots of a quiet platform commit in tens of milliseconds, not with a
burst's thousands in a pass of a second or more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cronstream_server.background import Background, log_loop_failure, wait_set
from cronstream_server.core import executions as execution_rules
from cronstream_server.core.alerts import Opening
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger, JobStatus
from cronstream_server.core.executions import Execution
from cronstream_server.core.fairness import EVERY_PLATFORM, TickLane
from cronstream_server.core.firing import (
    NONE_OUTSTANDING,
    Firing,
    fire,
    jitter_offset,
    skip_reason,
)
from cronstream_server.core.health import missed_alerts
from cronstream_server.core.jobs import COUNT_TURN, Job, paused_slot_counter, resume_by_itself
from cronstream_server.core.ports import (
    DueJobs,
    JobMove,
    Signals,
    Ticked,
    TickerStore,
    TickPlan,
    Upcoming,
)
from cronstream_server.core.signals import BUSY, CANCEL, DUE, JOBS, RELEASE, WORK
from cronstream_server.telemetry.metrics import Metrics

log = logging.getLogger(__name__)

_BUSY_TELL = timedelta(seconds=1)
# Due instants a pass announces at most (jittered slots each have their own:
# the rest are found by the dispatchers' polls and the next passes).
_ANNOUNCED = 16


@dataclass(frozen=True)
class TickerSettings:
    # Jobs claimed per transaction. 1,000 rather than 500: W1's 20,000
    # one-time jobs took 40 transactions, a quarter of its busy ones, and
    # W2's tail (the ticker's pass runs half a second before the instants) did
    # not move (docs/benchmarks.md).
    batch_size: int = 1000
    max_sleep: float = 5.0  # fallback poll when no signal arrives
    error_backoff: float = 1.0
    contended_pause: float = 0.02
    # Transactions side by side while a backlog lasts (where the store's
    # transactions run side by side: SKIP LOCKED gives each its own jobs, and
    # one waits on the database while another computes; SQLite has one
    # writer, so it gets one).
    lanes: int = 2
    # How long before its instant a slot is fired (see the module docstring);
    # half a second keeps the ticker's work for whole-second schedules away
    # from the whole seconds, when the dispatcher hands their slots out.
    fire_ahead: timedelta = timedelta(milliseconds=500)
    # While a backlog lasts (the last pass filled a batch: one platform's
    # burst, say), slots are fired this many times as far ahead: each pass
    # then takes a few hundred milliseconds and the slots of platforms with
    # a few jobs due wait for one, so they are written early enough for the
    # dispatcher to claim them ahead as well (docs/scheduling.md, "Fairness
    # between platforms").
    busy_factor: float = 3.0
    # Due jobs of one platform a main-lane pass takes at most; a platform
    # with this many due is bursting and goes to the bulk lane (where the
    # store's transactions run side by side). The dispatcher's main lane
    # takes as many.
    main_share: int = 100


@dataclass
class TickResult:
    jobs: int = 0
    executions: int = 0
    platforms: frozenset[str] = frozenset()  # with executions due now
    cancelled: tuple[str, ...] = ()
    # The instants executions it fired ahead come due at, earliest first (at
    # most _ANNOUNCED: a pass fired far ahead spans several whole seconds,
    # and each is announced, or its slots wait for a dispatcher's poll).
    due: tuple[datetime, ...] = ()
    resumed: int = 0  # paused jobs whose `until` came
    # Jobs due per platform of its lane, as the claim read them (Ticked.demand).
    demand: Mapping[str, int] = field(default_factory=dict)
    skipped: int = 0  # due jobs another transaction held: due still


class Ticker:
    def __init__(
        self,
        store: TickerStore,
        signals: Signals,
        settings: TickerSettings = TickerSettings(),
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics or Metrics(enabled=False)
        self._signals = signals
        self._settings = settings
        self._wake = asyncio.Event()
        self._loop = Background("ticker", self._run)
        self._bulk = Background("ticker-bulk", self._run_bulk)
        self._bursting: set[str] = set()  # platforms the bulk lane serves
        self._stop_listening = signals.listen(JOBS, lambda _: self._wake.set())
        self.last_tick_at: datetime | None = None
        self._busy_told_until: datetime | None = None

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        self._stop_listening()
        await self._loop.stop()
        await self._bulk.stop()

    @property
    def enabled(self) -> bool:
        """Whether this replica was configured to tick (start was called)."""
        return self._loop.started

    @property
    def running(self) -> bool:
        return self._loop.running

    async def _run(self) -> None:
        """The main lane (module docstring)."""
        backlog = False  # the last pass filled a batch: more are due now
        while True:
            # Cleared before the tick reads anything: a `jobs` signal that
            # arrives from here on (a job created while this tick or the
            # look for the next run is under way) cuts the coming sleep short.
            self._wake.clear()
            try:
                # Busy while a platform bursts: the others' slots are fired as
                # far ahead as the burst's, so they are claimed ahead too.
                busy = backlog or bool(self._bursting)
                lane = self._main_lane()
                ticks = await self._tick_in_lanes(lane, busy, side_by_side=backlog)
                self._note_bursting(lane, ticks)
                batch = self._settings.batch_size
                backlog = any(t.jobs >= batch or t.resumed >= batch for t in ticks)
                if backlog:
                    continue  # more are due: no sleep
                if any(t.skipped for t in ticks):
                    # Due jobs another transaction holds (a results batch
                    # updating their counters, another replica's tick): a
                    # moment, then again, rather than a sleep that takes
                    # them for jobs waiting for their instant.
                    await wait_set(self._wake, self._settings.contended_pause)
                    continue
                # A crowded instant (a full batch due at once) starts busy.
                backlog = await self._sleep_until_due(idle=all(t.jobs == 0 for t in ticks))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                backlog = False
                log_loop_failure(
                    log, f"tick failed (next try in {self._settings.error_backoff}s)", error
                )
                await asyncio.sleep(self._settings.error_backoff)

    def _main_lane(self) -> TickLane:
        if not self._store.side_by_side:
            # One writer (SQLite): a second lane's transaction would only
            # queue behind the first.
            return EVERY_PLATFORM
        return TickLane(frozenset(self._bursting), bulk=False, cap=self._settings.main_share)

    def _note_bursting(self, lane: TickLane, ticks: Sequence[TickResult]) -> None:
        """Platforms a main-lane pass found bursting go to the bulk lane."""
        found = set().union(*(lane.bursting(t.demand) for t in ticks)) - self._bursting
        if not found:
            return
        self._bursting |= found
        if not self._bulk.running:
            self._bulk.start()

    async def _run_bulk(self) -> None:
        """The bulk lane: passes over the bursting platforms alone, side by
        side, until one finds none of theirs due (the main lane then serves
        them again)."""
        while self._bursting:
            lane = TickLane(frozenset(self._bursting), bulk=True)
            try:
                ticks = await self._tick_in_lanes(lane, busy=True, side_by_side=True)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log_loop_failure(
                    log, f"bulk tick failed (next try in {self._settings.error_backoff}s)", error
                )
                await asyncio.sleep(self._settings.error_backoff)
                continue
            still = set().union(*(t.demand for t in ticks))
            self._bursting -= lane.platforms - still
        self._wake.set()  # the main lane's sleep left the bursting platforms out

    async def _tick_in_lanes(
        self, lane: TickLane, busy: bool, side_by_side: bool
    ) -> list[TickResult]:
        """`side_by_side` (a backlog lasts: the last pass filled a batch, or
        the bulk lane's), `lanes` ticks at once: thousands of jobs due at one
        second are fired by two transactions at once rather than one after
        the other. Otherwise one tick: a pass that finds nothing still costs
        a transaction, and most passes find a few jobs or none."""
        lanes = self._settings.lanes if side_by_side and self._store.side_by_side else 1
        if lanes == 1:
            return [await self.tick(busy, lane)]
        async with asyncio.TaskGroup() as group:
            ticks = [group.create_task(self.tick(busy, lane)) for _ in range(lanes)]
        return [t.result() for t in ticks]

    async def _sleep_until_due(self, idle: bool) -> bool:
        """Sleeps until the ticker has work; returns whether the coming
        instant is crowded (a full batch due at once)."""
        settings = self._settings
        bursting = frozenset(self._bursting)  # fired by the bulk lane: not waited for here
        upcoming = await self._store.upcoming(settings.batch_size, settings.fire_ahead, bursting)
        delay = min(
            self._until_firing(upcoming, idle, busy=bool(bursting)), self._until_resuming(upcoming)
        )
        await wait_set(self._wake, delay)
        return upcoming.crowded

    def _until_firing(self, upcoming: Upcoming, idle: bool, busy: bool = False) -> float:
        """Seconds until the earliest job fires (`fire_ahead` before its
        instant where it may; a crowded instant, a full batch due at once,
        or any while a platform bursts, `busy_factor` times as early), at
        most `max_sleep`."""
        delay = self._settings.max_sleep
        if upcoming.next_run is not None:
            until = (upcoming.next_run - upcoming.now).total_seconds()
            lead = self._settings.fire_ahead.total_seconds()
            if upcoming.crowded or busy:
                lead *= self._settings.busy_factor
            ahead = until - lead
            if ahead > 0.0:
                delay = min(delay, ahead)
            elif idle and until > 0.0:
                # The earliest job does not fire ahead (its overlap policy
                # waits for the instant): sleep until that instant.
                delay = min(delay, until)
            elif idle:
                # Due jobs that this tick could not claim are being fired by
                # another replica right now (SKIP LOCKED); give it a moment
                # instead of spinning.
                delay = self._settings.contended_pause
            else:
                delay = 0.0
        return delay

    def _until_resuming(self, upcoming: Upcoming) -> float:
        """Seconds until the earliest paused job resumes by itself: at its
        instant, not ahead (it is paused until then)."""
        if upcoming.resume_at is None:
            return self._settings.max_sleep
        until = (upcoming.resume_at - upcoming.now).total_seconds()
        # Passed but still paused: another replica is resuming it right now.
        return until if until > 0.0 else self._settings.contended_pause

    async def tick(self, busy: bool = False, lane: TickLane = EVERY_PLATFORM) -> TickResult:
        """One pass over the platforms `lane` serves: resumes the paused jobs
        whose `until` has come (not in the bulk lane), then fires every job
        due now (up to the batch size each); `busy` (a backlog lasts),
        `busy_factor` times as far ahead."""
        settings = self._settings
        ahead = settings.fire_ahead * (settings.busy_factor if busy else 1.0)
        resume = None if lane.bulk else resume_by_itself
        began = time.perf_counter()
        ticked = await self._store.tick(ahead, settings.batch_size, _plan, resume, lane)
        self._metrics.ticker_pass(time.perf_counter() - began, ticked.claimed)
        self.last_tick_at = ticked.now
        if busy:
            await self._tell_busy(ticked.now)
        result = _summary(ticked, await self._count_paused_slots(ticked.resumed))
        if not ticked.claimed:
            return result
        self._metrics.slots_skipped(
            (e.platform_id, e.handler_name, skip_reason(e.error))
            for e in ticked.plan.executions
            if e.status is ExecutionStatus.SKIPPED
        )
        await self._announce(result)
        plan = ticked.plan
        if any(e.status is ExecutionStatus.WAITING for e in [*plan.executions, *plan.buffered]):
            # Slots wait for their dependencies: every replica's gate looks
            # now, and passes at its results while they wait (engine.gate).
            await self._signals.publish(RELEASE, ticked.now.isoformat())
        return result

    async def _tell_busy(self, now: datetime) -> None:
        """Tells the dispatchers the ticker fires a backlog (BUSY), about once a
        second, each time until two seconds on: they claim further ahead
        meanwhile, so the burst's load costs other platforms nothing."""
        if self._busy_told_until is not None and now < self._busy_told_until - _BUSY_TELL:
            return
        self._busy_told_until = now + 2 * _BUSY_TELL
        await self._signals.publish(BUSY, self._busy_told_until.isoformat())

    async def _count_paused_slots(self, paused: Sequence[Job]) -> int:
        """Counts the slots each job the tick resumed passed while paused, as
        a ResumeJob does. Returns how many jobs were resumed."""
        count = paused_slot_counter()
        for index, job in enumerate(paused):
            assert job.paused_until is not None  # what a tick's `resume` claims
            passed = count(job, job.paused_until)
            self._metrics.paused_slots(job.platform_id, job.spec.handler_name, passed)
            if index % COUNT_TURN == COUNT_TURN - 1:
                await asyncio.sleep(0)  # counting is CPU work: let the loop run
        return len(paused)

    async def _announce(self, result: TickResult) -> None:
        for platform_id in result.platforms:
            await self._signals.publish(WORK, platform_id)
        for instant in result.due:
            await self._signals.publish(DUE, instant.isoformat())
        for execution_id in result.cancelled:
            await self._signals.publish(CANCEL, execution_id)


def _plan(due: DueJobs) -> TickPlan:
    """What a tick writes for the jobs it claimed (runs inside the tick's
    transaction, so it does no I/O)."""
    executions: list[Execution] = []
    buffered: list[Execution] = []
    moves: list[JobMove] = []
    cancel: list[str] = []
    missed: list[Opening] = []
    for job in due.jobs:
        firing = fire(job, due.now, due.outstanding.get(job.id, NONE_OUTSTANDING), due.horizon)
        made, waiting = _executions(job, firing, due.now)
        executions += made
        buffered += waiting
        moves.append(_move(job, firing, due.now))
        if firing.cancel_outstanding:
            cancel.append(job.id)
        if job.spec.health_policy.alert_on_missed is not False:  # else: the platform's say
            missed += missed_alerts(job, made)
    return TickPlan(executions, buffered, moves, cancel, missed)


def _summary(ticked: Ticked, resumed: int) -> TickResult:
    """What the tick tells the others (platforms with work due now, the
    instants of executions due later, running executions it cancelled) and
    the ticker's loops (what it resumed, saw due and could not claim)."""
    now = ticked.now
    pending = [e for e in ticked.plan.executions if e.status is ExecutionStatus.PENDING]
    return TickResult(
        ticked.claimed,
        sum(ticked.recorded.values()),
        frozenset(e.platform_id for e in pending if e.due_at <= now),
        ticked.cancelled_running,
        tuple(sorted({e.due_at for e in pending if e.due_at > now})[:_ANNOUNCED]),
        resumed,
        ticked.demand,
        ticked.skipped,
    )


def _executions(job: Job, firing: Firing, now: datetime) -> tuple[list[Execution], list[Execution]]:
    """The firing's slots as executions: those to record, and the BUFFER_ONE
    one that waits for the job's running execution. A job with dependencies
    fires its slots WAITING, the buffered one too."""
    made: list[Execution] = []
    waiting: list[Execution] = []
    buffered = set(firing.buffered)
    for slot in firing.slots:
        execution = execution_rules.for_job(job, ExecutionTrigger.SCHEDULE, slot.at, now)
        if slot.skipped:
            execution = execution_rules.skipped(execution, slot.note or "skipped", now)
            made.append(execution)
            continue
        if job.spec.depends_on:  # the gate releases it (core.dependencies)
            execution = execution_rules.waiting(execution, job)
        if slot.at in buffered:
            waiting.append(execution)
            continue
        if job.spec.jitter:  # without jitter it is due at its slot already
            execution = execution_rules.due(
                execution, slot.at + jitter_offset(job.id, slot.at, job.spec.jitter)
            )
        made.append(execution)
    return made, waiting


def _move(job: Job, firing: Firing, now: datetime) -> JobMove:
    completed = firing.status is JobStatus.COMPLETED
    return JobMove(
        job_id=job.id,
        next_run=firing.next_run,
        last_run=firing.last_run,
        runs_count=firing.runs_count,
        status=firing.status,
        completed_at=now if completed else job.completed_at,
        updated_at=now,
    )
