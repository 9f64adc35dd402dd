"""What the ticker does with a due job: which slots become executions, which
are skipped, and where the job goes next. Pure: the caller passes `now`.

Terms: a *slot* is one instant of the job's schedule. A slot is *late* when
it is more than `MISFIRE_GRACE` behind `now` — it was missed while no replica
was running (or the job was paused mid-slot), not merely delayed by a busy
tick. Late slots follow the job's misfire policy; on-time slots always fire.

A slot is fired *ahead* when its instant is after `now` but within the
ticker's horizon: its execution is written early, due at the instant, so the
dispatcher hands it out on time instead of waiting for the ticker's work. Only
jobs whose overlap policy is ALLOW fire ahead; the others decide on what still
runs, which is only known at the instant itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import field, replace
from datetime import datetime, timedelta

from cronstream_server.core import triggers
from cronstream_server.core.enums import JobStatus, MisfirePolicy, OverlapPolicy
from cronstream_server.core.jobs import Job
from cronstream_server.core.triggers import OnceTrigger
from cronstream_server.core.values import value_type

# A slot fired within this long after its instant is on time, not a misfire
# (Quartz's misfireThreshold plays the same role, with 60 s).
MISFIRE_GRACE = timedelta(seconds=60)
# At most this many late slots are fired per job per tick under RUN_ALL; the
# rest wait for the following ticks, so a long outage does not start a storm.
CATCHUP_PER_TICK = 10
# At most this many missed slots are recorded one by one as skipped executions;
# beyond that the last record carries the count of the others.
MAX_SKIPPED_RECORDS = 100
# Enumerating missed slots stops here (a per-second job down for a day has
# 86,400); the count then says "at least".
MAX_ENUMERATED = 10_000


@value_type
class Slot:
    at: datetime
    skipped: bool = False
    note: str | None = None  # why a slot was skipped


@value_type
class Firing:
    """The outcome of one tick for one job."""

    slots: list[Slot]
    next_run: datetime | None
    last_run: datetime | None
    runs_count: int
    status: JobStatus
    completed: bool = False
    cancel_outstanding: bool = False  # CANCEL_PREVIOUS: stop what still runs
    buffered: list[datetime] = field(default_factory=list)  # BUFFER_ONE: wait for the runner


@value_type
class Outstanding:
    """The job's executions that have not finished, as the ticker saw them."""

    pending: int = 0  # waiting for a worker
    running: int = 0
    buffered: int = 0  # BUFFER_ONE: waiting for the running one to finish

    @property
    def any(self) -> bool:
        return self.pending + self.running + self.buffered > 0


# What a job with no unfinished execution has outstanding.
NONE_OUTSTANDING = Outstanding()


def fires_ahead(job: Job) -> bool:
    """Whether the job's slots may be fired before their instant."""
    return job.spec.overlap_policy is OverlapPolicy.ALLOW


def watches_outstanding(job: Job) -> bool:
    """Whether `fire` needs the job's Outstanding executions: every overlap
    policy but ALLOW decides on what still runs."""
    return job.spec.overlap_policy is not OverlapPolicy.ALLOW


def fire(
    job: Job,
    now: datetime,
    outstanding: Outstanding = NONE_OUTSTANDING,
    horizon: datetime | None = None,
) -> Firing:
    """The slots of `job` due by `horizon` (default: `now`), after misfire and
    overlap policies; lateness is always measured from `now`. A horizon past
    `now` applies only to a job that `fires_ahead`."""
    until = horizon if horizon is not None and fires_ahead(job) else now
    due, upcoming = _due_slots(job, now, max(now, until))
    slots = _apply_misfire(job, due, now)
    slots, cancel, buffered = _apply_overlap(job, slots, outstanding)
    fired = [s for s in slots if not s.skipped]
    runs = job.runs_count + len(due)
    next_run = upcoming
    done = next_run is None
    return Firing(
        slots=slots,
        next_run=next_run,
        last_run=due[-1] if due else job.last_run,
        runs_count=runs,
        status=JobStatus.COMPLETED if done else job.status,
        completed=done,
        cancel_outstanding=cancel and bool(fired),
        buffered=buffered,
    )


def _due_slots(job: Job, now: datetime, until: datetime) -> tuple[list[datetime], datetime | None]:
    """Every slot from next_run up to `until` (capped), and the first one after.

    Under RUN_ALL the catch-up is paced: past CATCHUP_PER_TICK late slots, the
    job's next_run stays on the first unfired one, and the next tick goes on."""
    trigger = job.spec.trigger
    slot = job.next_run
    assert trigger is not None and slot is not None
    due: list[datetime] = []
    runs = job.runs_count
    late_fired = 0
    while slot is not None and slot <= until and len(due) < MAX_ENUMERATED:
        if _paced(job, slot, now, late_fired):
            return due, slot
        late_fired += _late(slot, now) and now - slot <= job.spec.catchup_window
        due.append(slot)
        runs += 1
        slot = triggers.next_run(trigger, slot, runs)
    if slot is not None and slot <= until:  # enumeration capped: jump past it
        ahead = triggers.preview(trigger, until, 1)
        slot = ahead[0] if ahead else None
    return due, slot


def _paced(job: Job, slot: datetime, now: datetime, late_fired: int) -> bool:
    return (
        job.spec.misfire_policy is MisfirePolicy.RUN_ALL
        and _late(slot, now)
        and now - slot <= job.spec.catchup_window
        and late_fired >= CATCHUP_PER_TICK
    )


def _late(slot: datetime, now: datetime) -> bool:
    return now - slot > MISFIRE_GRACE


OVERLAP_NOTE = "overlap:"  # how the notes of slots the overlap policy skipped begin


def _apply_misfire(job: Job, due: list[datetime], now: datetime) -> list[Slot]:
    late = [at for at in due if _late(at, now)]
    on_time = [Slot(at) for at in due if not _late(at, now)]
    if not late or isinstance(job.spec.trigger, OnceTrigger):
        return [Slot(at) for at in due]  # a once-job runs even when late
    policy = job.spec.misfire_policy
    if policy is MisfirePolicy.RUN_ALL:
        window = job.spec.catchup_window
        run = [at for at in late if now - at <= window]
        return (
            _skipped(
                [at for at in late if now - at > window], "missed: older than the catch-up window"
            )
            + [Slot(at) for at in run]
            + on_time
        )
    if policy is MisfirePolicy.RUN_ONCE and not on_time:
        return _skipped(late[:-1], "missed: ran once for all missed slots") + [Slot(late[-1])]
    return _skipped(late, "missed while no replica was running") + on_time


def skip_reason(note: str | None) -> str:
    """What a skipped slot's note says it was skipped for: "misfire" (missed
    while no replica ran, or past the catch-up window) or "overlap"."""
    return "overlap" if (note or "").startswith(OVERLAP_NOTE) else "misfire"


def _skipped(slots: list[datetime], why: str) -> list[Slot]:
    """Skipped records, the oldest dropped past MAX_SKIPPED_RECORDS and counted."""
    if len(slots) <= MAX_SKIPPED_RECORDS:
        return [Slot(at, skipped=True, note=why) for at in slots]
    kept = slots[-MAX_SKIPPED_RECORDS:]
    dropped = len(slots) - len(kept)
    records = [Slot(at, skipped=True, note=why) for at in kept]
    records[0] = Slot(kept[0], skipped=True, note=f"{why} (and {dropped} earlier slots)")
    return records


def _apply_overlap(
    job: Job, slots: list[Slot], outstanding: Outstanding
) -> tuple[list[Slot], bool, list[datetime]]:
    """Overlap policy against what still runs: (slots, cancel previous?, buffered)."""
    policy = job.spec.overlap_policy
    fired = [s for s in slots if not s.skipped]
    if policy is OverlapPolicy.ALLOW or not fired:
        return slots, False, []
    if policy is OverlapPolicy.CANCEL_PREVIOUS:
        # Only the newest of several due slots survives; the others are superseded.
        superseded = {s.at for s in fired[:-1]}
        return (
            _mark(slots, superseded, f"{OVERLAP_NOTE} superseded by a later slot"),
            outstanding.any or bool(superseded),
            [],
        )
    if policy is OverlapPolicy.SKIP:
        keep = set() if outstanding.any else {fired[0].at}
        return (
            _mark(slots, {s.at for s in fired} - keep, f"{OVERLAP_NOTE} previous run not finished"),
            False,
            [],
        )
    # BUFFER_ONE: one run at a time and one waiting behind it; more are skipped.
    if outstanding.any:
        runnable, waiting = [], fired[:1] if not outstanding.buffered else []
    else:
        runnable, waiting = fired[:1], fired[1:2]
    keep = {s.at for s in runnable + waiting}
    marked = _mark(slots, {s.at for s in fired} - keep, f"{OVERLAP_NOTE} buffer already full")
    return marked, False, [s.at for s in waiting]


def _mark(slots: list[Slot], ats: set[datetime], why: str) -> list[Slot]:
    return [Slot(s.at, skipped=True, note=why) if s.at in ats else s for s in slots]


def jitter_offset(job_id: str, slot: datetime, jitter: timedelta) -> timedelta:
    """A delay in [0, jitter) that every replica computes alike for this slot."""
    if jitter <= timedelta(0):
        return timedelta(0)
    digest = hashlib.sha256(f"{job_id}|{slot.isoformat()}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(microseconds=int(jitter / timedelta(microseconds=1) * fraction))


def unfire(job: Job, slots: list[datetime], last_run: datetime | None) -> Job:
    """The job as if `slots` had never been fired: they were fired ahead and
    their executions withdrawn before their instants came (the job is being
    paused, edited or cancelled). `last_run` is the slot fired before them."""
    if not slots:
        return job
    revived = job.status is JobStatus.COMPLETED  # completed only by these slots
    return replace(
        job,
        next_run=min(slots),
        last_run=last_run,
        runs_count=job.runs_count - len(slots),
        executions_count=job.executions_count - len(slots),
        status=JobStatus.ACTIVE if revived else job.status,
        completed_at=None if revived else job.completed_at,
    )
