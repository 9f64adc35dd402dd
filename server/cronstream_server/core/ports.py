"""The interfaces the domain needs from the outside world.

Adapters live in `cronstream_server.store` (one SQL implementation that runs on
Postgres and SQLite) and `cronstream_server.signals`. The same contract tests
(tests/contract) run over every adapter, so each method's docstring is its
specification. "Side by side" below: on a database whose write transactions
run side by side (Postgres); SQLite has one writer at a time, so there a
transaction waits where Postgres would skip a locked row.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import field
from datetime import datetime, timedelta
from typing import Protocol

from cronstream_server.core.alerts import Alert, AlertEvent, AlertFilter, Checked, Opening
from cronstream_server.core.dependencies import CHECK_ONE_JOB, Gated, GateDecide, GraphCheck
from cronstream_server.core.dispatch import Claimed, Pending, Reaped, Report, Start, Verdict, Want
from cronstream_server.core.enums import ExecutionStatus, HealthState, JobStatus, JobType
from cronstream_server.core.events import Delivered, Event, EventHandler
from cronstream_server.core.executions import Execution, ExecutionLog
from cronstream_server.core.fairness import DEFAULT_WEIGHT, EVERY_PLATFORM, TickLane
from cronstream_server.core.firing import Outstanding
from cronstream_server.core.health import HealthPolicy
from cronstream_server.core.insight import (
    DATABASE_CHECK_TIMEOUT,
    ComponentHealth,
    ExecutionFigures,
    PlatformFigures,
    RecentRun,
)
from cronstream_server.core.jobs import Job
from cronstream_server.core.paging import PageRequest
from cronstream_server.core.rate_limits import RateLimit, Scope
from cronstream_server.core.release import ReleaseDecide, Releasing
from cronstream_server.core.selection import BulkChange, JobSelector
from cronstream_server.core.tenancy import ApiKey, NewSecret, Platform, PlatformPrincipal
from cronstream_server.core.values import value_type
from cronstream_server.core.webhook_delivery import (
    AttemptResult,
    ClaimedDelivery,
    DeliveryAttempt,
    Settled,
)
from cronstream_server.core.webhooks import Webhook
from cronstream_server.core.workers import ConnectedWorker


@value_type
class JobFilter:
    """ListJobs' filters; they combine with AND, and `tags` must all be present."""

    statuses: tuple[JobStatus, ...] = ()
    types: tuple[JobType, ...] = ()
    handler_name: str = ""
    tags: tuple[str, ...] = ()
    healths: tuple[HealthState, ...] = ()
    # The name contains it (case-insensitively; `%` and `_` are themselves),
    # or the id is exactly it.
    text: str = ""


@value_type
class ExecutionFilter:
    job_id: str | None = None
    statuses: tuple[ExecutionStatus, ...] = ()


class AdminStore(Protocol):
    async def create_platform(self, name: str, weight: int = DEFAULT_WEIGHT) -> Platform:
        """Creates a platform; raises AlreadyExists when the name is taken."""
        ...

    async def update_platform(
        self, platform_id: str, name: str | None, weight: int | None
    ) -> Platform:
        """Sets the platform's name and weight, each unless None; returns it.
        Raises NotFound, or AlreadyExists when the name is another's."""
        ...

    async def get_platform(self, platform_id: str) -> Platform:
        """Returns the platform; raises NotFound for an unknown or malformed id."""
        ...

    async def find_platform_by_name(self, name: str) -> Platform | None:
        """The platform with this name, if any."""
        ...

    async def list_platforms(self, page: PageRequest) -> tuple[list[Platform], Platform | None]:
        """At most `page.size` platforms, oldest first, after `page.after`
        (a key from `platform_sort_key`); the second value is the last row
        returned when more rows follow, else None."""
        ...

    async def delete_platform(self, platform_id: str) -> None:
        """Deletes the platform and, by cascade, everything it owns: keys,
        jobs, executions, logs, event handlers. Raises NotFound."""
        ...

    async def create_api_key(self, platform_id: str, name: str, secret: NewSecret) -> ApiKey:
        """Stores a key (its hash, never the secret). Raises NotFound for the platform."""
        ...

    async def list_api_keys(
        self, platform_id: str, page: PageRequest
    ) -> tuple[list[ApiKey], ApiKey | None]:
        """The platform's keys, oldest first, revoked ones included; paged like
        `list_platforms`. Raises NotFound for the platform."""
        ...

    async def revoke_api_key(self, key_id: str) -> ApiKey:
        """Marks the key revoked (idempotent). Raises NotFound."""
        ...

    async def authenticate(self, secret_hash: str) -> PlatformPrincipal | None:
        """The principal of the unrevoked key with this hash, or None."""
        ...

    async def live_keys(self, key_ids: Collection[str]) -> set[str]:
        """Of `key_ids`, those neither revoked nor gone with their platform."""
        ...

    async def ping(self) -> None:
        """A round trip to the database; raises Unavailable when it is down."""
        ...


class Signals(Protocol):
    """Wake-ups between the parts of one replica and across replicas.

    A signal is a hint that something changed, never the change itself: a lost
    signal may cost latency (the listener polls as a fallback), never data.
    Topics: `jobs` (a job was created or rescheduled; message: its next_run as
    ISO 8601), `work` (pending executions appeared; message: platform id),
    `cancel` (stop an execution; message: its id, then optionally a space and
    the reason the worker is told, such as "timeout").
    """

    async def publish(self, topic: str, message: str) -> None:
        """Delivers `message` to this replica's listeners of `topic` at once, and
        to the other replicas' when a broker is configured. Never raises: a broker
        that is down is logged and skipped."""
        ...

    def listen(self, topic: str, callback: Callable[[str], None]) -> Callable[[], None]:
        """Calls `callback(message)` (in the event loop, without awaiting) for every
        message on `topic`; returns a function that stops listening."""
        ...

    @property
    def healthy(self) -> bool:
        """False while a configured broker is unreachable."""
        ...


class JobStore(Protocol):
    async def create_job(self, job: Job, request_id: str | None) -> tuple[Job, bool]:
        """Inserts `job`; with a `request_id` the platform used before, returns that
        earlier job instead. The flag says whether `job` was created."""
        ...

    async def create_jobs(
        self, batch: Sequence[tuple[Job, str | None]], graph: GraphCheck = CHECK_ONE_JOB
    ) -> list[tuple[Job, bool]]:
        """Inserts jobs of one platform, each with its optional request_id, in one
        transaction: all of them or none. Each behaves as `create_job`: a
        request_id the platform used before yields that earlier job, and no
        insert. The new jobs' depends_on are stored as edges once `graph`
        passed over the platform's graph (it raises InvalidArgument naming
        each job by its index in `batch`), with the platform's graph held
        against concurrent changes. Returns (job, created) in the order given.

        Every Job this store returns carries its depends_on in the order it
        was given."""
        ...

    async def get_job(self, platform_id: str, job_id: str) -> Job:
        """The platform's job; NotFound for another platform's, unknown or malformed ids."""
        ...

    async def list_jobs(
        self, platform_id: str, where: JobFilter, page: PageRequest
    ) -> tuple[list[Job], Job | None]:
        """Newest first, keyset-paged on (created_at, id); the second value is the
        last row returned when more follow."""
        ...

    async def run_job(
        self, platform_id: str, job_id: str, make: Callable[[Job], Execution]
    ) -> Execution:
        """Reads the platform's job (NotFound as get_job) and stores the
        execution `make` builds from it, in one transaction: a job deleted or
        changed meanwhile is never run from a stale read. `make` may raise
        (the job cannot run), and then nothing is stored."""
        ...

    async def count_jobs(self, platform_id: str) -> int:
        """How many jobs the platform holds, in any status."""
        ...

    async def update_job(
        self,
        platform_id: str,
        job_id: str,
        change: Callable[[Job], Job],
        graph: GraphCheck | None = None,
    ) -> tuple[Job, Job]:
        """Applies `change` under the job's row lock (a concurrent tick or
        update never loses a write) and stores the result; returns (before,
        after). NotFound as get_job. A change of depends_on needs `graph`:
        the platform's graph is then held from the start of the transaction,
        and the new edges pass `graph` before they replace the old ones.

        Slots fired ahead (see TickerStore.tick) whose instants have not come
        are withdrawn first: their executions, still pending, are deleted,
        and `before` is the job as if they had never been fired (next_run
        back on the first of them, last_run, runs_count and executions_count
        as before them, a job completed by them active again). So the change
        applies to those slots too: a pause stops them, an edit runs them
        with the new spec. An execution of such a slot cancelled by hand
        stays; one already running or finished is never withdrawn."""
        ...

    async def cancel_job(
        self, platform_id: str, job_id: str, change: Callable[[Job], Job], now: datetime
    ) -> Job:
        """Applies `change` (the cancellation) as `update_job` does, slots
        fired ahead withdrawn first, and, in the same transaction, cancels the
        job's executions that have not started: a failure anywhere leaves
        both as they were. Returns the job after."""
        ...

    async def delete_job(self, platform_id: str, job_id: str) -> None:
        """Deletes the job with its executions and logs, and every edge naming
        it: a job depending on it no longer does. NotFound as get_job."""
        ...

    async def change_selected(
        self,
        platform_id: str,
        selector: JobSelector,
        status: JobStatus,
        limit: int,
        change: Callable[[Job], Job],
    ) -> BulkChange:
        """Applies `change` to at most `limit` of the platform's jobs that are
        in `status` and match `selector`, each exactly as `update_job` would
        (slots fired ahead withdrawn first, under the job's row lock), and
        atomically per job: a job is wholly changed or untouched. `change`
        must take the job out of `status`. A job another transaction holds
        is left for a later call (skipped side by side). Returns the changed
        jobs, (before, after), and how many of the platform's jobs still
        match in `status` once the changes committed. Never reads or changes
        another platform's jobs."""
        ...


MakeBackfill = Callable[[Job, list[datetime]], list[Execution]]


class BackfillStore(Protocol):
    async def add_backfill(
        self,
        platform_id: str,
        job_id: str,
        instants: Sequence[datetime],
        make: MakeBackfill,
        sequential: bool,
    ) -> int:
        """One transaction: reads the platform's job (NotFound as
        JobStore.get_job), and calls `make(job, fresh)` with the `instants`
        (ascending) that have no execution of the job's schedule yet (one
        the ticker fired or a backfill made at that scheduled_at, whatever
        its status). Stores what `make` returns, skipping, never an error, an
        instant that got its execution meanwhile from another writer; adds
        what it stored to the job's executions_count, and returns how many.
        `make` may raise (the job cannot be backfilled), and then nothing is
        stored. `sequential`: a BUFFER_ONE backfill's (core.release).

        The job's row is locked first, as the ticker locks it before writing
        slots (one lock order, no deadlock): side by side, the ticker skips
        the job until the commit and fires it on its next tick; a cancel or
        delete waits, and then finds the executions stored."""
        ...


class ExecutionStore(Protocol):
    async def insert_many(self, batch: Sequence[Execution]) -> None:
        """Inserts executions in one statement and counts them on their jobs;
        NotFound when their job was deleted meanwhile."""
        ...

    async def get(self, platform_id: str, execution_id: str) -> Execution:
        """The platform's execution; NotFound otherwise."""
        ...

    async def list_executions(
        self, platform_id: str, where: ExecutionFilter, page: PageRequest
    ) -> tuple[list[Execution], Execution | None]:
        """Newest first, paged like JobStore.list_jobs."""
        ...

    async def update(
        self, platform_id: str, execution_id: str, change: Callable[[Execution], Execution]
    ) -> Execution:
        """Applies `change` under a row lock and stores the result; NotFound as
        `get`. An execution of a job that reaches a final status releases the
        job's buffered execution (see "buffered" below), in the same
        transaction."""
        ...

    async def list_logs(
        self, platform_id: str, execution_id: str, page: PageRequest
    ) -> tuple[list[ExecutionLog], int | None]:
        """Log lines oldest first, keyset-paged on the line id."""
        ...


class EventStore(Protocol):
    async def create_handler(self, handler: EventHandler) -> EventHandler:
        """Stores a new event handler."""
        ...

    async def get_handler(self, platform_id: str, handler_id: str) -> EventHandler:
        """The platform's handler; NotFound otherwise."""
        ...

    async def list_handlers(
        self, platform_id: str, event_name: str, page: PageRequest
    ) -> tuple[list[EventHandler], EventHandler | None]:
        """Newest first, optionally of one event name, paged like list_jobs."""
        ...

    async def update_handler(
        self, platform_id: str, handler_id: str, change: Callable[[EventHandler], EventHandler]
    ) -> EventHandler:
        """Applies `change` under a row lock and stores the result."""
        ...

    async def delete_handler(self, platform_id: str, handler_id: str) -> None:
        """Deletes the handler and its executions; NotFound as get_handler."""
        ...


class RateLimitStore(Protocol):
    """A platform's rate limits (core.rate_limits); another platform's are
    never seen nor touched."""

    async def set_limit(
        self,
        platform_id: str,
        scope: Scope,
        name: str,
        make: Callable[[RateLimit | None], RateLimit],
    ) -> RateLimit:
        """One transaction: the limit `make` builds from the one stored (None
        when there is none) is stored, and its buckets start full."""
        ...

    async def list_limits(self, platform_id: str) -> list[RateLimit]:
        """Every limit of the platform: keys' first, then handlers', each by name."""
        ...

    async def delete_limit(self, platform_id: str, scope: Scope, name: str) -> None:
        """Deletes the limit with its buckets; NotFound when there is none."""
        ...


class InsightStore(Protocol):
    async def job_figures(self, platform_id: str, job_id: str) -> ExecutionFigures:
        """Counts by status and durations of the job's executions."""
        ...

    async def p95_duration_ms(self, platform_id: str, job_id: str) -> int | None:
        """The 95th percentile (nearest rank) of the durations of the job's
        latest successful executions, the sample `job_figures` reads; None when
        it has none. The caller has checked that the job is the platform's."""
        ...

    async def platform_figures(self, platform_id: str, now: datetime) -> PlatformFigures:
        """Jobs by status and type, executions by status, due pending executions."""
        ...

    async def database_health(self, within: timedelta = DATABASE_CHECK_TIMEOUT) -> ComponentHealth:
        """A round trip to the database and its latency. Never raises: a
        failure, or no answer within `within`, is NOT_SERVING with why."""
        ...

    async def recent_runs(
        self, platform_id: str, job_ids: Collection[str], limit: int
    ) -> Mapping[str, Sequence[RecentRun]]:
        """The latest `limit` executions in a RUN_STATUSES status of each of
        the platform's jobs among `job_ids` (canonical ids), newest instant
        first (then newest id), by job id, in one query; a job of another
        platform, or unknown, or without runs, is absent."""
        ...


# --- the engine's ports -------------------------------------------------------
#
# "Buffered", for every port: an execution of a BUFFER_ONE job waiting
# behind its job's running one. It is stored pending but is never due, so no
# claim hands it out, until an execution of its job reaches a final status
# (DispatchStore.settle, reap and release_sessions, ExecutionStore.update):
# in that same transaction it becomes due at that instant.


@value_type
class DueJobs:
    """What a tick claimed, as its `decide` callback sees it."""

    jobs: Sequence[Job]  # locked for the tick, oldest next_run first
    # The unfinished executions (pending, running, buffered) of the jobs that
    # `core.firing.watches_outstanding`, by job id; a job without any is absent.
    outstanding: Mapping[str, Outstanding]
    now: datetime  # the database's clock
    horizon: datetime  # now + the tick's `ahead`


@value_type
class JobMove:
    """Where a tick leaves one job it claimed."""

    job_id: str
    next_run: datetime | None
    last_run: datetime | None
    runs_count: int
    status: JobStatus
    completed_at: datetime | None
    updated_at: datetime


@value_type
class TickPlan:
    """What a tick writes for the jobs it claimed."""

    executions: Sequence[Execution] = ()  # slots to record (pending or skipped)
    buffered: Sequence[Execution] = ()  # slots to record as buffered (see above)
    moves: Sequence[JobMove] = ()
    # CANCEL_PREVIOUS: jobs whose unfinished executions are cancelled first.
    cancel_outstanding: Sequence[str] = ()
    # MISSED alerts for skipped slots of jobs whose policy asks for them.
    missed: Sequence[Opening] = ()


@value_type
class Ticked:
    """One tick (TickerStore.tick)."""

    now: datetime  # the database's clock, which decided what was due
    claimed: int  # jobs claimed; 0: nothing was due and nothing was written
    plan: TickPlan  # as `decide` returned it
    # Executions recorded per job id (a slot stored before is not counted).
    recorded: Mapping[str, int]
    # Running executions that `cancel_outstanding` cancelled: their workers
    # must be told.
    cancelled_running: tuple[str, ...]
    # Paused jobs the tick resumed first (its `resume`), as they were before.
    resumed: tuple[Job, ...] = ()
    # Jobs due per platform its lane serves, as the claim read them (counted
    # up to the limit): a platform absent had none due.
    demand: Mapping[str, int] = field(default_factory=dict)
    # Due jobs its shares asked for that another transaction held (skipped):
    # they are due still, and a pass a moment later takes them.
    skipped: int = 0


@value_type
class Upcoming:
    now: datetime  # the database's clock
    next_run: datetime | None  # the earliest next_run of an active job
    resume_at: datetime | None = None  # the earliest `until` of a paused job
    # A full batch of active jobs is due within `crowd_window` of next_run
    # (see TickerStore.upcoming): a burst the ticker starts on early.
    crowded: bool = False


DecideTick = Callable[[DueJobs], TickPlan]
DecideClaim = Callable[[list[Pending], datetime], list[Start]]


class TickerStore(Protocol):
    """Jobs whose next slot has come, turned into executions once per slot."""

    @property
    def side_by_side(self) -> bool:
        """Whether ticks in separate transactions progress side by side, each
        claiming other jobs. When False, one waits for the other to commit,
        and a second tick at once gains nothing."""
        ...

    async def tick(
        self,
        ahead: timedelta,
        limit: int,
        decide: DecideTick,
        resume: Callable[[Job, datetime], Job] | None = None,
        lane: TickLane = EVERY_PLATFORM,
    ) -> Ticked:
        """One transaction, on the database's clock `now`, over the jobs of
        the platforms `lane` serves (at most its `cap` of each):

        0. with `resume`, first claims at most `limit` PAUSED jobs whose
           `paused_until` has come (<= now), earliest first, and stores
           `resume(job, now)` for each (pure: it runs while the jobs are
           locked); `Ticked.resumed` lists them as they were, paused. Each
           is resumed once across replicas (never a job another transaction
           holds), and one resumed here is claimed below if its slot has come;
        1. claims at most `limit` ACTIVE jobs whose next_run has come, oldest
           first: by `now + ahead` for jobs that `core.firing.fires_ahead`,
           by `now` for the others. They stay locked until the commit. Never
           a job another transaction holds: side by side it is skipped, else
           this tick waits for that transaction to commit first;
        2. reads their outstanding executions (see DueJobs.outstanding);
        3. calls `decide` (pure: it runs while the jobs are locked) and writes
           its plan: cancels the unfinished executions of
           `plan.cancel_outstanding`'s jobs, records `plan.executions` and
           `plan.buffered` (a schedule slot, one (job, scheduled_at), is
           stored once: a slot that already has its execution is skipped,
           never an error), and applies each JobMove to its job, adding what
           was recorded for it to its executions_count.

        Claiming no due job, it calls no `decide` and writes no execution
        (only the resumes of step 0). A failure anywhere leaves everything as
        it was."""
        ...

    async def upcoming(
        self,
        crowd: int = 0,
        crowd_window: timedelta = timedelta(),
        excluding: frozenset[str] = frozenset(),
    ) -> Upcoming:
        """The database's now, and when the ticker has work next: the
        earliest next_run of an ACTIVE job of a platform not in `excluding`,
        due or not, locked or not, and the earliest `paused_until` of a
        PAUSED job; with `crowd` (and nothing excluded), whether at least
        that many active jobs are due by next_run + `crowd_window`. Locks no
        row."""
        ...


class GateStore(Protocol):
    """WAITING executions (core.dependencies), released or skipped once
    across replicas."""

    async def gate(
        self, limit: int, after: tuple[datetime, str] | None, decide: GateDecide
    ) -> Gated:
        """One transaction, on the database's clock `now`:

        1. locks at most `limit` WAITING executions, nearest wait_deadline
           first, after the key (wait_deadline, id) `after`; never one another
           transaction holds (side by side it is skipped, else this waits);
        2. reads, for each, its job's dependencies as they stand now
           (core.dependencies.Upstream: status, next_run, and the latest
           schedule or backfill execution with scheduled_at at or before the
           waiting one's, a SUCCESS preferred among equal instants), and for
           a buffered one (BUFFER_ONE, see below) whether its job still has
           another unfinished execution;
        3. calls `decide` (pure) and applies its plan, each write only to a
           row still WAITING: released ones become PENDING, due at the
           plan's time, waiting_for cleared; missed ones become SKIPPED with
           the reason as their error and completed_at `now` (a final status:
           their job's buffered execution is released as by any other); the
           others' waiting_for is rewritten; and the plan's MISSED openings
           whose job's or platform's policy wants them are opened.

        Locking nothing, it writes nothing. `Gated.last` is the key to pass
        as `after` for the next page."""
        ...

    async def release(
        self, limit: int, after: tuple[datetime, str] | None, decide: ReleaseDecide
    ) -> Releasing:
        """One transaction, on the database's clock `now`, over the WAITING
        backfilled executions (core.release):

        1. locks at most `limit` of an ALLOW backfill's whose release time is
           at or before `now`, earliest first after the key (due_at, id)
           `after`, never one another transaction holds; and, when `after`
           is None, reads of each of at most `limit` jobs its earliest
           unfinished backfilled execution, offered when it is a sequential
           one waiting and due (the only one its job may release);
        2. reads their jobs' dependencies as `gate` does;
        3. calls `decide` (pure) and applies its plan, each write only to a
           row still WAITING: released ones become PENDING due `now`,
           waiting_for cleared; the others' waiting_for is rewritten.

        `Releasing.next_at`: the earliest release time after `now`, of an
        ALLOW backfill's or of an offered sequential one's. `last` is the
        key to pass as `after` for the next page."""
        ...


class DispatchStore(Protocol):
    """The worker stream's side of the database. Every write to a running
    execution names its attempt or its session and re-checks that it still
    runs (fencing): a late writer, such as a worker that lost its lease,
    changes nothing. Times are the database's clock. Malformed execution ids
    match nothing."""

    async def claim(self, wants: Sequence[Want], ahead: timedelta, decide: DecideClaim) -> Claimed:
        """One transaction, on the database's clock `now`: for each Want,
        locks at most `want.limit` pending executions of that platform's
        handler due by `now + ahead`, critical first, then longest due; never
        a buffered one, and never one another transaction holds (skipped side
        by side, else waited for). `decide(candidates, now)` (pure: it runs
        under the locks) picks the Starts, which become running in their
        sessions with their lease, deadline and trace, at the same attempt.
        Candidates not started stay pending, untouched.

        Concurrency keys and rate limits (core.admission): `decide` is given
        only candidates with a free place under their key (at most the
        key's limit running cluster-wide, claimed ahead included) and a
        token in every bucket of theirs, and the Starts take those tokens.
        A claim never admits to a key or bucket another transaction is
        admitting to (it leaves it this round), and when a want's
        candidates were held back it reads on past their keys, so they
        never keep others waiting. `Claimed.retry_at` says when a held-back
        candidate's bucket next has a token."""
        ...

    async def settle(
        self, reports: Sequence[Report], rng: random.Random, cap: timedelta
    ) -> list[Verdict]:
        """Applies a batch of results in one transaction; one verdict per
        report, in order (core.dispatch.settle_reports). Only a result naming
        the current attempt of a running execution of the reporter's platform
        is applied (APPLY); a result of an attempt settled before is
        REPEATED, of an older attempt STALE, of an unknown execution or
        another platform's UNKNOWN, and those change nothing. An applied one
        succeeds, fails, or goes back to pending as the next attempt, due
        after the retry backoff; the job counts it (successes with the mean
        duration, failures), a one-time job fails with its slot, and a final
        status releases the job's buffered execution. The rows are locked in
        id order, waiting for another writer of them, never skipping it."""
        ...

    async def extend_leases(
        self, held: Sequence[tuple[str, str]], lease: timedelta
    ) -> set[tuple[str, str]]:
        """Heartbeats of every session at once: each (execution id, session
        id) whose execution is running in that very session gets its lease
        extended to the database's now + `lease`; returns those pairs. A pair
        whose execution was released, reaped, settled or moved to another
        session is neither extended nor returned: a heartbeat never revives
        a lost lease."""
        ...

    async def rebind(
        self,
        platform_id: str,
        session: tuple[str, str],
        attempts: Sequence[tuple[str, int]],
        lease: timedelta,
    ) -> tuple[set[str], list[tuple[str, str]]]:
        """A worker's hello, in one transaction. Each (execution id, attempt)
        still running at that attempt in the platform moves to `session`
        (session id, worker id) with a fresh lease: their ids are returned
        first. Then what other sessions of the same worker run and the worker
        did not name goes back to pending as the next attempt, due at once,
        without using a retry: returned as (execution id, platform id). An
        attempt released or reaped meanwhile has moved on and is left alone."""
        ...

    async def release_sessions(
        self, session_ids: Sequence[str], *, worker_lost: bool
    ) -> list[tuple[str, str]]:
        """The running executions of these sessions, as (execution id,
        platform id), go back to pending as their next attempt, due at once.
        `worker_lost` (its stream broke): each counts as a failed attempt, as
        a lease that ran out does, so it uses up a retry and, with none left,
        fails (counted on its job, releasing its buffered execution). Else
        (this server hands work back as it stops) no retry is used. Waits for
        a writer of those rows (a result being applied), never skips it."""
        ...

    async def release_attempts(self, attempts: Sequence[tuple[str, int]]) -> None:
        """Claimed attempts that were never handed over: each (execution id,
        attempt) still running at that attempt goes back to pending as the
        next attempt, due at once, without using a retry."""
        ...

    async def reap(self, limit: int, rng: random.Random, cap: timedelta) -> Reaped:
        """One transaction: at most `limit` running executions whose lease
        ran out go back to pending as the next attempt, due at once (a retry
        used; with none left they fail), and at most `limit` past their
        deadline are retried after the backoff or end as timed out. Both as
        `settle` counts and releases. Rows another transaction holds (a
        result being applied) are skipped side by side; a row is never both."""
        ...

    async def add_logs(self, lines: Sequence[ExecutionLog]) -> None:
        """Stores log lines. Lines of executions that no longer exist
        (deleted with their job or platform) are dropped, never an error; the
        others are stored all the same."""
        ...


class RetentionStore(Protocol):
    """Deletes what is older than the retention, one bounded batch a call.
    Safe on every replica at once: deleting is idempotent and, where the
    database has advisory locks, a replica that finds another one deleting
    deletes nothing this time (returns 0) instead of waiting."""

    async def delete_finished(self, keep: timedelta, limit: int) -> int:
        """Deletes at most `limit` executions in a final status that finished
        (completed_at) more than `keep` before the database's now, oldest
        first, with their logs; returns how many. Never a pending or running
        execution, whatever its age, nor a younger one."""
        ...

    async def delete_old_deliveries(self, keep: timedelta, limit: int) -> int:
        """Deletes at most `limit` TriggerEvent idempotency records made more
        than `keep` before the database's now, oldest first; returns how many.
        Their request ids may then be used again."""
        ...

    async def delete_old_alerts(self, keep: timedelta, limit: int) -> int:
        """Deletes at most `limit` alerts resolved more than `keep` before the
        database's now, oldest first, with their events; returns how many.
        Never an open alert. A watch resuming from a cursor older than that
        gets the events that remain."""
        ...

    async def delete_old_webhook_deliveries(self, keep: timedelta, limit: int) -> int:
        """Deletes at most `limit` webhook deliveries that ended (succeeded or
        failed) and were made more than `keep` before the database's now,
        oldest first, with their attempts; returns how many. Never a pending one."""
        ...


class EventDeliveryStore(Protocol):
    async def deliver(self, events: Sequence[Event]) -> list[Delivered]:
        """TriggerEvent for a batch of events, in one transaction: all or
        none. Each event creates one pending execution per enabled handler of
        its name and per active event job of its name in its platform
        (core.events.deliveries), oldest listener first; each job's
        executions_count counts its own. An event whose (platform,
        request_id) was delivered before, by an earlier call or earlier in
        this batch, creates nothing and answers with the first delivery's
        execution ids (created False). Results in the events' order."""
        ...


class AlertStore(Protocol):
    async def check(self) -> Checked: ...

    async def list_alerts(
        self, platform_id: str, where: AlertFilter, page: PageRequest
    ) -> tuple[list[Alert], Alert | None]: ...

    async def events_after(self, platform_id: str, cursor: int, limit: int) -> list[AlertEvent]: ...

    async def last_cursor(self, platform_id: str) -> int: ...

    async def health_defaults(self, platform_id: str) -> HealthPolicy: ...

    async def set_health_defaults(self, platform_id: str, policy: HealthPolicy) -> HealthPolicy: ...


class WebhookStore(Protocol):
    async def create_webhook(self, webhook: Webhook, secret: str) -> Webhook:
        """Stores the webhook with its secret (as given: the server signs
        with it). It receives its platform's alert events whose cursor is
        above the platform's last one committed at this moment."""
        ...

    async def get_webhook(self, platform_id: str, webhook_id: str) -> Webhook:
        """The platform's webhook; NotFound for another platform's, unknown or
        malformed ids."""
        ...

    async def list_webhooks(
        self, platform_id: str, page: PageRequest
    ) -> tuple[list[Webhook], Webhook | None]:
        """Newest first, keyset-paged on (created_at, id); the second value is
        the last row returned when more follow."""
        ...

    async def delete_webhook(self, platform_id: str, webhook_id: str) -> None:
        """Deletes the webhook with its deliveries and their attempts;
        NotFound as get_webhook."""
        ...

    async def list_attempts(
        self, platform_id: str, webhook_id: str, page: PageRequest
    ) -> tuple[list[DeliveryAttempt], DeliveryAttempt | None]:
        """The webhook's attempts, and its deliveries not attempted yet as
        attempt 0, newest event first and latest attempt first, after
        `page.after` (a `DeliveryAttempt.sort_key`); paged like
        list_webhooks. NotFound as get_webhook."""
        ...


class WebhookDeliveryStore(Protocol):
    async def fan_out(self, limit: int) -> int:
        """Turns the alert events no pass has fanned out yet into deliveries
        (`core.webhook_delivery.fan_out`), at most `limit` events of each
        platform, in cursor order; returns how many deliveries it made. A
        platform's events are read in the order they committed, so none is
        passed over. Idempotent: a webhook gets one delivery per event,
        however many replicas run at once (side by side, a platform one of
        them is fanning out is skipped by the others)."""
        ...

    async def claim(self, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
        """Up to `limit` pending deliveries due by the database's clock,
        earliest due first, each with its attempt number raised and its next
        attempt put off by `lease`: no claim returns it again before the
        lease ends (side by side, rows another claim holds are skipped), and
        after it another replica may, when this one died mid-attempt."""
        ...

    async def record(
        self,
        claimed: ClaimedDelivery,
        result: AttemptResult,
        decide: Callable[[datetime], Settled],
    ) -> bool:
        """Stores the attempt, and the delivery's state as `decide(now)` says
        (on the database's clock), in one transaction. The delivery changes
        only while this attempt is its latest and it is pending: False when a
        later claim took it over (the attempt is stored all the same)."""
        ...


class TargetCheck(Protocol):
    async def refusal(self, url: str) -> str | None:
        """Why webhooks may not send to `url`'s host as it resolves now
        (`core.webhook_targets`); None when they may, or when it does not
        resolve at the moment (every delivery checks again)."""
        ...


@value_type
class QueueFigures:
    """One platform's handler in the queue, cluster-wide."""

    platform_id: str
    handler_name: str
    pending: int  # due and not started
    running: int
    waiting: int = 0  # waiting for their dependencies (not counted as pending)


class ClusterFigures(Protocol):
    """What one replica reads for the whole cluster's gauges (engine.gauges)."""

    async def reporting(self) -> bool:
        """Whether this replica reports the cluster's figures now; takes the
        turn when nobody holds it."""
        ...

    async def queue(self) -> list[QueueFigures]: ...

    async def alerts_opened(self, after: int | None) -> tuple[list[tuple[str, str, str]], int]:
        """(platform, handler, kind) of the alerts opened after event `after`,
        and the last event's cursor; None: only the cursor (count from now)."""
        ...

    async def close(self) -> None: ...


class WorkerRegistry(Protocol):
    """The worker sessions of every replica (core.workers): each replica
    writes its own, any replica lists them."""

    async def report(
        self,
        sessions: Sequence[ConnectedWorker],
        ended: Collection[str],
        stale_after: timedelta,
    ) -> None:
        """One transaction: stores `sessions` (a new one is inserted, a known
        one gets its slots, slots in use and last_seen), each marked reported
        now (the database's clock); deletes the rows of the `ended` session
        ids, and those of any replica not reported for `stale_after` (one
        that died). A session of a platform that no longer exists is skipped,
        not an error (its stream is about to be revoked)."""
        ...

    async def forget(self, replica: str) -> None:
        """Deletes every row `replica` wrote (it stops)."""
        ...

    async def list_workers(
        self, platform_id: str, handler_name: str | None, page: PageRequest, fresh_for: timedelta
    ) -> tuple[list[ConnectedWorker], ConnectedWorker | None]:
        """The platform's sessions reported within `fresh_for`, that run
        `handler_name` when given, by worker id then session id after the
        page's key (worker id, session id); and the page's last one when
        more follow."""
        ...


@value_type
class PoolFigures:
    """A replica's database connection pool."""

    in_use: int
    idle: int
    waiting: int  # tasks waiting for a connection
