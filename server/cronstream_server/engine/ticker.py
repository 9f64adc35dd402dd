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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cronstream_server.background import Background, log_loop_failure, wait_set
from cronstream_server.core import executions as execution_rules
from cronstream_server.core.alerts import Opening
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger, JobStatus
from cronstream_server.core.executions import Execution
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
        self._stop_listening = signals.listen(JOBS, lambda _: self._wake.set())
        self.last_tick_at: datetime | None = None
        self._busy_told_until: datetime | None = None

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        self._stop_listening()
        await self._loop.stop()

    @property
    def enabled(self) -> bool:
        """Whether this replica was configured to tick (start was called)."""
        return self._loop.started

    @property
    def running(self) -> bool:
        return self._loop.running

    async def _run(self) -> None:
        backlog = False  # the last pass filled a batch: more are due now
        while True:
            # Cleared before the tick reads anything: a `jobs` signal that
            # arrives from here on (a job created while this tick or the
            # look for the next run is under way) cuts the coming sleep short.
            self._wake.clear()
            try:
                ticks = await self._tick_in_lanes(backlog)
                batch = self._settings.batch_size
                backlog = any(t.jobs >= batch or t.resumed >= batch for t in ticks)
                if backlog:
                    continue  # more are due: no sleep
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

    async def _tick_in_lanes(self, backlog: bool) -> list[TickResult]:
        """While a backlog lasts (the last pass filled a batch), one tick per
        lane, side by side: thousands of jobs due at one second are fired by
        two transactions at once rather than one after the other. Otherwise
        one tick: a lane that finds nothing still costs a transaction, and
        most passes find a few jobs or none."""
        lanes = self._settings.lanes if backlog and self._store.side_by_side else 1
        if lanes == 1:
            return [await self.tick(backlog)]
        async with asyncio.TaskGroup() as group:
            ticks = [group.create_task(self.tick(backlog)) for _ in range(lanes)]
        return [t.result() for t in ticks]

    async def _sleep_until_due(self, idle: bool) -> bool:
        """Sleeps until the ticker has work; returns whether the coming
        instant is crowded (a full batch due at once)."""
        settings = self._settings
        upcoming = await self._store.upcoming(settings.batch_size, settings.fire_ahead)
        delay = min(self._until_firing(upcoming, idle), self._until_resuming(upcoming))
        await wait_set(self._wake, delay)
        return upcoming.crowded

    def _until_firing(self, upcoming: Upcoming, idle: bool) -> float:
        """Seconds until the earliest job fires (`fire_ahead` before its
        instant where it may; a crowded instant, a full batch due at once,
        `busy_factor` times as early), at most `max_sleep`."""
        delay = self._settings.max_sleep
        if upcoming.next_run is not None:
            until = (upcoming.next_run - upcoming.now).total_seconds()
            lead = self._settings.fire_ahead.total_seconds()
            if upcoming.crowded:
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

    async def tick(self, busy: bool = False) -> TickResult:
        """One pass: resumes the paused jobs whose `until` has come, then fires
        every job due now (up to the batch size each); `busy` (a backlog
        lasts), `busy_factor` times as far ahead."""
        settings = self._settings
        ahead = settings.fire_ahead * (settings.busy_factor if busy else 1.0)
        began = time.perf_counter()
        ticked = await self._store.tick(ahead, settings.batch_size, _plan, resume_by_itself)
        self._metrics.ticker_pass(time.perf_counter() - began, ticked.claimed)
        self.last_tick_at = ticked.now
        if busy:
            await self._tell_busy(ticked.now)
        resumed = await self._count_paused_slots(ticked.resumed)
        if not ticked.claimed:
            return TickResult(resumed=resumed)
        self._metrics.slots_skipped(
            (e.platform_id, e.handler_name, skip_reason(e.error))
            for e in ticked.plan.executions
            if e.status is ExecutionStatus.SKIPPED
        )
        result = replace(_summary(ticked), resumed=resumed)
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


def _summary(ticked: Ticked) -> TickResult:
    """What the tick tells the others: platforms with work due now, the
    instants of executions due later, running executions it cancelled."""
    now = ticked.now
    pending = [e for e in ticked.plan.executions if e.status is ExecutionStatus.PENDING]
    return TickResult(
        ticked.claimed,
        sum(ticked.recorded.values()),
        frozenset(e.platform_id for e in pending if e.due_at <= now),
        ticked.cancelled_running,
        tuple(sorted({e.due_at for e in pending if e.due_at > now})[:_ANNOUNCED]),
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
