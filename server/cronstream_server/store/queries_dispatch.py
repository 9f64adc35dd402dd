"""The hot SQL of the worker stream: claim, lease, settle, release, reap.

Each function runs one statement (or one short family of them) inside the
caller's transaction; `store.dispatch` composes them into transactions.

Two rules hold everywhere:
- Fencing: every write to a running execution names its attempt or its
  session and re-checks `status = 'running'`, so a late writer (a worker that
  lost its lease, a reaper that raced a result) changes nothing.
- Time is the database's (`store.clock.database_now`): every replica and
  every worker's lease and deadline agree on one clock whatever the hosts'
  clocks say.

On Postgres, rows are claimed with `FOR NO KEY UPDATE SKIP LOCKED` so
replicas share work without waiting on each other; SQLite ignores the clause
and gets the same exclusion from its single writer (every transaction is BEGIN
IMMEDIATE, see `store.database`). Batches go as arrays where the database
takes them (`Dialect.array_batches`, `store.bulk_postgres`), else as an
executemany. Every row lock here is `FOR NO KEY UPDATE`
(`key_share=True`): no write here changes a key, and that lock does not
conflict with the KEY SHARE lock a log line's foreign-key check takes on its
execution, where `FOR UPDATE` did (a heartbeat batch locking in id order
deadlocked with a log batch inserting in arrival order, and a claim skipped
rows whose logs were being written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.core.dispatch import Ending, Held, Pending, Settlement, Start, Want
from cronstream_server.core.enums import ExecutionStatus
from cronstream_server.core.limits import NO_KEYS
from cronstream_server.store import bulk_postgres
from cronstream_server.store.buffered import release_buffered
from cronstream_server.store.database import Dialect
from cronstream_server.store.rows import (
    EXECUTION_STATUSES,
    EXECUTION_TRIGGERS,
    PRIORITIES,
    keys_from_row,
    milliseconds,
)
from cronstream_server.store.tables import (
    job_execution_logs,
    job_executions,
    rate_limits,
    scheduled_jobs,
)
from cronstream_server.store.types import one_of

executions = job_executions
jobs = scheduled_jobs
RUNNING = ExecutionStatus.RUNNING.value
PENDING = ExecutionStatus.PENDING.value
# The status tests of the claim and the reaper as literals, not parameters:
# only then can the planner match the partial indexes' predicates (status =
# 'pending' / 'running') in every plan, including the generic plans Postgres
# may settle on for a statement the driver has prepared.
IS_PENDING = executions.c.status == literal_column(f"'{PENDING}'")
IS_RUNNING = executions.c.status == literal_column(f"'{RUNNING}'")

_PENDING_COLUMNS = (
    executions.c.id,
    executions.c.platform_id,
    executions.c.job_id,
    executions.c.handler_name,
    executions.c.payload,
    executions.c.priority,
    executions.c.scheduled_at,
    executions.c.due_at,
    executions.c.attempt,
    executions.c.timeout_ms,
    executions.c.trigger,
    executions.c.trace_id,
    executions.c.span_id,
    executions.c.traceparent,
    executions.c.tracestate,
    executions.c.concurrency_key,
    executions.c.concurrency_limit,
    executions.c.rate_limit_key,
    executions.c.rate_limit_template,
)


async def due_candidates(
    conn: AsyncConnection, want: Want, by: datetime, beyond: Beyond | None = None
) -> Candidates:
    """Up to `want.limit` pending executions of one platform's handler due by `by`,
    critical first, then oldest due, locked until the claim commits.

    One ordered range scan of ix_job_executions_claim (platform_id,
    handler_name, priority DESC, due_at, id) WHERE pending, which stops at its
    LIMIT however large the backlog. SKIP LOCKED: rows another replica is
    claiming right now are left to it, not waited for.

    `beyond` (only when concurrency keys or rate limits held candidates
    back): the rows after `beyond.after` in the same order, leaving out the
    keys held back. The scan goes on from there, reading past the rows of
    those keys (their column is not in the index), so a saturated key's
    backlog costs time but never blocks the executions behind it.
    """
    query = (
        select(*_PENDING_COLUMNS, _handler_limited(want))
        .where(
            executions.c.platform_id == want.platform_id,
            executions.c.handler_name == want.handler_name,
            IS_PENDING,
            executions.c.due_at <= by,
        )
        .order_by(executions.c.priority.desc(), executions.c.due_at, executions.c.id)
        .limit(want.limit)
        .with_for_update(skip_locked=True, key_share=True)
    )
    if beyond is not None:
        query = query.where(*_beyond(beyond))
    rows = (await conn.execute(query)).all()
    return Candidates([_pending(row) for row in rows], bool(rows and rows[0].handler_limited))


@dataclass(frozen=True, slots=True)
class Candidates:
    pending: list[Pending]
    # The platform set a rate limit on the want's handler. Asked in the same
    # statement (an uncorrelated subquery, run once, an InitPlan on Postgres)
    # so the common claim costs no round trip more than it did without
    # rate limits.
    handler_limited: bool


def _handler_limited(want: Want) -> Any:
    probe: Select[Any] = select(literal_column("1")).where(
        rate_limits.c.platform_id == want.platform_id,
        rate_limits.c.scope == literal_column("'handler'"),
        rate_limits.c.name == want.handler_name,
    )
    return probe.exists().label("handler_limited")


@dataclass(frozen=True, slots=True)
class Beyond:
    """Where a further scan of a want's candidates starts, and what it skips."""

    after: Pending  # the last candidate read: the scan goes on after it
    concurrency_keys: frozenset[str]  # held back: full, or another claim's
    rate_limit_keys: frozenset[str]  # expanded keys whose bucket is empty


def _beyond(beyond: Beyond) -> list[ColumnElement[bool]]:
    last = beyond.after
    priority, due_at = int(last.priority), last.due_at
    clauses: list[ColumnElement[bool]] = [
        or_(
            executions.c.priority < priority,
            and_(executions.c.priority == priority, executions.c.due_at > due_at),
            and_(
                executions.c.priority == priority,
                executions.c.due_at == due_at,
                executions.c.id > last.id,
            ),
        )
    ]
    if beyond.concurrency_keys:
        clauses.append(
            or_(
                executions.c.concurrency_key.is_(None),
                executions.c.concurrency_key.not_in(sorted(beyond.concurrency_keys)),
            )
        )
    if beyond.rate_limit_keys:
        clauses.append(
            or_(
                executions.c.rate_limit_key.is_(None),
                executions.c.rate_limit_key.not_in(sorted(beyond.rate_limit_keys)),
            )
        )
    return clauses


# A claimed row becomes a Pending per execution sent, on the dispatcher's
# path: read by position (the claim selects _PENDING_COLUMNS first, in that
# order), its enums by value through maps made once, its timeout from a few
# values shared by a job's executions (store.rows). By name, through the
# enums' constructors and a new timedelta each, the conversion cost twice as much.
def _pending(row: Row[Any] | Any) -> Pending:
    (
        id_,
        platform_id,
        job_id,
        handler_name,
        payload,
        priority,
        scheduled_at,
        due_at,
        attempt,
        timeout_ms,
        trigger,
        trace_id,
        span_id,
        traceparent,
        tracestate,
        concurrency_key,
        _concurrency_limit,
        _rate_limit_key,
        rate_limit_template,
    ) = row[: len(_PENDING_COLUMNS)]
    keys = (
        NO_KEYS  # the common case, without the row's mapping keys_from_row reads
        if concurrency_key is None and rate_limit_template is None
        else keys_from_row(row._mapping)
    )
    return Pending(
        id=id_,
        platform_id=platform_id,
        job_id=job_id,
        handler_name=handler_name,
        payload=payload,
        priority=PRIORITIES[priority],
        scheduled_at=scheduled_at,
        due_at=due_at,
        attempt=attempt,
        timeout=milliseconds(timeout_ms),
        trigger=EXECUTION_TRIGGERS[trigger],
        trace_id=trace_id,
        span_id=span_id,
        traceparent=traceparent,
        tracestate=tracestate,
        keys=keys,
    )


# The claim's write: the rows are locked by `due_candidates` in this same
# transaction, and the status/attempt guard makes a stray double claim a no-op.
# Trace ids are kept from the first attempt, so every attempt shares one trace.
_MARK_RUNNING = (
    update(executions)
    .where(
        executions.c.id == bindparam("b_id"),
        executions.c.status == PENDING,
        executions.c.attempt == bindparam("b_attempt"),
    )
    .values(
        status=RUNNING,
        worker_id=bindparam("b_worker_id"),
        session_id=bindparam("b_session_id"),
        started_at=bindparam("b_started_at"),
        lease_expires_at=bindparam("b_lease_expires_at"),
        deadline_at=bindparam("b_deadline_at"),
        next_retry_at=None,
        trace_id=func.coalesce(executions.c.trace_id, bindparam("b_trace_id")),
        span_id=func.coalesce(executions.c.span_id, bindparam("b_span_id")),
        parent_span_id=func.coalesce(executions.c.parent_span_id, bindparam("b_parent_span_id")),
    )
)


async def mark_running(conn: AsyncConnection, dialect: Dialect, starts: Sequence[Start]) -> None:
    """Each claimed row becomes its session's running attempt."""
    if not starts:
        return
    rows = [_start_params(s) for s in starts]
    if dialect.array_batches:
        await bulk_postgres.mark_running(conn, rows)
    else:
        await conn.execute(_MARK_RUNNING, rows)


def _start_params(start: Start) -> dict[str, Any]:
    return {
        "b_id": start.execution.id,
        "b_attempt": start.execution.attempt,
        "b_worker_id": start.worker_id,
        "b_session_id": start.session_id,
        "b_started_at": start.started_at,
        "b_lease_expires_at": start.lease_expires_at,
        "b_deadline_at": start.deadline_at,
        "b_trace_id": start.trace.trace_id,
        "b_span_id": start.trace.span_id,
        "b_parent_span_id": start.trace.parent_span_id,
    }


async def extend_leases(
    conn: AsyncConnection, held: Sequence[tuple[str, str]], until: datetime
) -> set[tuple[str, str]]:
    """Heartbeats: extends the leases of (execution_id, session_id) pairs that
    this session still runs; returns the pairs extended. A pair whose row was
    reaped, cancelled or re-bound elsewhere matches nothing: a heartbeat never
    revives a lost lease. One statement for every session's heartbeats."""
    if not held:
        return set()
    # Rows are locked in id order, as results lock them (`lock_held`), so a
    # heartbeat batch and a result batch never wait on each other in a cycle.
    locked = (
        select(executions.c.id)
        .where(tuple_(executions.c.id, executions.c.session_id).in_(held))
        .where(executions.c.status == RUNNING)
        .order_by(executions.c.id)
        .with_for_update(key_share=True)
    )
    statement = (
        update(executions)
        .where(executions.c.id.in_(locked.scalar_subquery()))
        .where(tuple_(executions.c.id, executions.c.session_id).in_(held))
        .where(executions.c.status == RUNNING)
        .values(lease_expires_at=until)
        .returning(executions.c.id, executions.c.session_id)
    )
    return {(row.id, row.session_id) for row in (await conn.execute(statement)).all()}


async def rebind(
    conn: AsyncConnection,
    platform_id: str,
    session: tuple[str, str],
    attempts: Sequence[tuple[str, int]],
    until: datetime,
) -> set[str]:
    """hello.running: the attempts still current move to the new session
    (session id, worker id) with a fresh lease; returns their ids. Matching
    on (id, attempt) and `running` is the fence: an attempt that was released
    or reaped meanwhile has a higher attempt number and stays with its new
    owner. The old session's release (WHERE session_id = old) then finds
    nothing, whichever of the two runs first."""
    if not attempts:
        return set()
    statement = (
        update(executions)
        .where(
            executions.c.platform_id == platform_id,
            executions.c.status == RUNNING,
            tuple_(executions.c.id, executions.c.attempt).in_(attempts),
        )
        .values(session_id=session[0], worker_id=session[1], lease_expires_at=until)
        .returning(executions.c.id)
    )
    return set((await conn.execute(statement)).scalars().all())


async def release_unheld(
    conn: AsyncConnection,
    platform_id: str,
    session: tuple[str, str],
    attempts: Sequence[tuple[str, int]],
    now: datetime,
) -> list[tuple[str, str]]:
    """hello: what an earlier session of the same worker (worker id) was
    given and the worker does not name in its hello goes back to pending at
    once, rather than when its lease runs out. The worker never received it
    (a replica that claimed it died before sending it) or no longer answers
    for it: every client names both its running attempts and its
    unacknowledged results. Returns (execution_id, platform_id)."""
    unheld = [
        executions.c.platform_id == platform_id,
        executions.c.status == RUNNING,
        executions.c.worker_id == session[1],
        executions.c.session_id != session[0],
    ]
    if attempts:
        unheld.append(tuple_(executions.c.id, executions.c.attempt).not_in(attempts))
    statement = (
        update(executions)
        .where(*unheld)
        .values(**_released(now))
        .returning(executions.c.id, executions.c.platform_id)
    )
    return [(row.id, row.platform_id) for row in (await conn.execute(statement)).all()]


def _released(now: datetime) -> dict[str, Any]:
    """A lost attempt goes back to pending as a new attempt, due at once; its
    worker's late result names the old attempt and is refused."""
    return {
        "status": PENDING,
        "attempt": executions.c.attempt + 1,
        "due_at": now,
        "session_id": None,
        "lease_expires_at": None,
        "deadline_at": None,
        "started_at": None,
    }


async def release_sessions(
    conn: AsyncConnection, session_ids: Sequence[str], now: datetime
) -> list[tuple[str, str]]:
    """A stream closed (or the server drains): its sessions' running
    executions become pending again. Returns (execution_id, platform_id).
    Plain row locks, no SKIP LOCKED: a result being applied to one of these
    rows is waited for, and the re-checked `status = 'running'` then leaves
    the settled row alone."""
    if not session_ids:
        return []
    statement = (
        update(executions)
        .where(executions.c.session_id.in_(session_ids), executions.c.status == RUNNING)
        .values(**_released(now))
        .returning(executions.c.id, executions.c.platform_id)
    )
    return [(row.id, row.platform_id) for row in (await conn.execute(statement)).all()]


async def release_attempts(
    conn: AsyncConnection, attempts: Sequence[tuple[str, int]], now: datetime
) -> None:
    """Claimed attempts that could not be handed over (the session closed or
    shrank meanwhile) go back, fenced by attempt like every other write."""
    if attempts:
        await conn.execute(
            update(executions)
            .where(tuple_(executions.c.id, executions.c.attempt).in_(attempts))
            .where(executions.c.status == RUNNING)
            .values(**_released(now))
        )


_HELD_COLUMNS = (
    executions.c.id,
    executions.c.platform_id,
    executions.c.job_id,
    executions.c.trigger,
    executions.c.status,
    executions.c.attempt,
    executions.c.retry_count,
    executions.c.max_retries,
    executions.c.retry_delay_ms,
    executions.c.timeout_ms,
    executions.c.started_at,
    executions.c.handler_name,
)


def _held(row: Row[Any] | Any) -> Held:
    r = row._mapping  # by key: a fraction of the cost of attribute access
    return Held(
        id=r["id"],
        platform_id=r["platform_id"],
        job_id=r["job_id"],
        trigger=EXECUTION_TRIGGERS[r["trigger"]],
        status=EXECUTION_STATUSES[r["status"]],
        attempt=r["attempt"],
        retry_count=r["retry_count"],
        max_retries=r["max_retries"],
        retry_delay=milliseconds(r["retry_delay_ms"]),
        timeout=milliseconds(r["timeout_ms"]),
        started_at=r["started_at"],
        handler_name=r["handler_name"],
    )


async def lock_held(conn: AsyncConnection, dialect: Dialect, ids: Sequence[str]) -> dict[str, Held]:
    """Results: the executions they name, locked (waiting, not skipping: a
    result must be applied, not dropped) in id order, so two transactions
    locking overlapping sets cannot deadlock."""
    if not ids:
        return {}
    named = one_of(executions.c.id, sorted(set(ids)), dialect.uuid_arrays)
    query = (
        select(*_HELD_COLUMNS)
        .where(named)
        .order_by(executions.c.id)
        .with_for_update(key_share=True)
    )
    return {row.id: _held(row) for row in (await conn.execute(query)).all()}


async def lock_expired_leases(conn: AsyncConnection, now: datetime, limit: int) -> list[Held]:
    """The reaper: running executions whose lease ran out (their worker went
    silent), oldest expiry first. Running rows are few (bounded by the
    workers' slots) and found through ix_job_executions_deadlines;
    lease_expires_at has no index of its own, so a heartbeat can be a HOT
    update (migration 0003).
    SKIP LOCKED lets several replicas reap side by side, and a row locked by
    a result being applied is skipped (that result settles it)."""
    query = (
        select(*_HELD_COLUMNS)
        .where(IS_RUNNING, executions.c.lease_expires_at < now)
        .order_by(executions.c.lease_expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return [_held(row) for row in (await conn.execute(query)).all()]


async def lock_sessions(conn: AsyncConnection, session_ids: Sequence[str]) -> list[Held]:
    """Running executions of closed sessions, in id order (one lock order for
    every writer). Plain locks: a result being applied is waited for, and the
    settlement's `status = 'running'` fence then leaves a settled row alone."""
    query = (
        select(*_HELD_COLUMNS)
        .where(executions.c.session_id.in_(session_ids), executions.c.status == RUNNING)
        .order_by(executions.c.id)
        .with_for_update(key_share=True)
    )
    return [_held(row) for row in (await conn.execute(query)).all()]


async def lock_past_deadline(conn: AsyncConnection, now: datetime, limit: int) -> list[Held]:
    """The reaper: running executions past their deadline. Running rows are
    few (bounded by the workers' slots), found through ix_job_executions_deadlines;
    SKIP LOCKED as for leases, so a result being applied wins the race."""
    query = (
        select(*_HELD_COLUMNS)
        .where(IS_RUNNING, executions.c.deadline_at < now)
        .order_by(executions.c.deadline_at)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return [_held(row) for row in (await conn.execute(query)).all()]


def _fenced() -> Any:
    return update(executions).where(
        executions.c.id == bindparam("b_id"),
        executions.c.attempt == bindparam("b_attempt"),
        executions.c.status == RUNNING,
    )


_SUCCEEDED = _fenced().values(
    status=ExecutionStatus.SUCCESS.value,
    result=bindparam("b_result"),
    completed_at=bindparam("b_at"),
    duration_ms=bindparam("b_duration_ms"),
    lease_expires_at=None,
)
_RETRYING = _fenced().values(
    status=PENDING,
    attempt=executions.c.attempt + 1,
    retry_count=executions.c.retry_count + 1,
    due_at=bindparam("b_due_at"),
    next_retry_at=bindparam("b_due_at"),
    error=bindparam("b_error"),
    error_stack=bindparam("b_error_stack"),
    session_id=None,
    lease_expires_at=None,
    deadline_at=None,
    started_at=None,
)
_ENDED = _fenced().values(
    status=bindparam("b_status"),
    error=bindparam("b_error"),
    error_stack=bindparam("b_error_stack"),
    completed_at=bindparam("b_at"),
    duration_ms=bindparam("b_duration_ms"),
    lease_expires_at=None,
)


async def write_settlements(
    conn: AsyncConnection, dialect: Dialect, settled: Sequence[Settlement]
) -> None:
    """Up to three executemany statements, one per kind of ending."""
    by_kind: dict[Any, list[dict[str, Any]]] = {_SUCCEEDED: [], _RETRYING: [], _ENDED: []}
    for settlement in settled:
        statement, params = _settlement_params(settlement)
        by_kind[statement].append(params)
    for statement, rows in by_kind.items():
        if not rows:
            continue
        if statement is _SUCCEEDED and dialect.array_batches:
            await bulk_postgres.succeed(conn, rows)  # the bulk of every batch
        else:
            await conn.execute(statement, rows)


def _settlement_params(s: Settlement) -> tuple[Any, dict[str, Any]]:
    fence = {"b_id": s.held.id, "b_attempt": s.held.attempt}
    if s.ending is Ending.SUCCEEDED:
        done = {"b_result": s.result, "b_at": s.at, "b_duration_ms": s.duration_ms}
        return _SUCCEEDED, fence | done
    failed = {"b_error": s.error, "b_error_stack": s.error_stack}
    if s.ending is Ending.RETRYING:
        return _RETRYING, fence | failed | {"b_due_at": s.due_at}
    ended = {"b_status": s.status.value, "b_at": s.at, "b_duration_ms": s.duration_ms}
    return _ENDED, fence | failed | ended


# Job counters, one row per settled execution so the running mean is exact
# even when one batch settles several executions of the same job: each row of
# an executemany sees the previous rows' updates in the same transaction.
_JOB_SUCCEEDED = (
    update(jobs)
    .where(jobs.c.id == bindparam("b_job_id"))
    .values(
        avg_duration_ms=func.coalesce(
            (jobs.c.avg_duration_ms * jobs.c.success_count + bindparam("b_ms", type_=BigInteger))
            / (jobs.c.success_count + 1),
            bindparam("b_ms", type_=BigInteger),
        ),
        success_count=jobs.c.success_count + 1,
    )
)
_JOB_FAILED = (
    update(jobs)
    .where(jobs.c.id == bindparam("b_job_id"))
    .values(failure_count=jobs.c.failure_count + 1)
)


async def count_on_jobs(
    conn: AsyncConnection, dialect: Dialect, settled: Sequence[Settlement], now: datetime
) -> None:
    """Success and failure counters, a one-time job failing with its slot, and
    BUFFER_ONE executions released by a finished one."""
    ok = [s for s in settled if s.ending is Ending.SUCCEEDED and s.held.job_id]
    bad = [s for s in settled if s.ending in (Ending.FAILED, Ending.TIMED_OUT) and s.held.job_id]
    if ok and dialect.array_batches:
        await bulk_postgres.count_successes(
            conn, [(s.held.job_id, s.duration_ms or 0) for s in ok if s.held.job_id]
        )
    elif ok:
        params = [{"b_job_id": s.held.job_id, "b_ms": s.duration_ms or 0} for s in ok]
        await conn.execute(_JOB_SUCCEEDED, params)
    if bad:
        await conn.execute(_JOB_FAILED, [{"b_job_id": s.held.job_id} for s in bad])
    one_time = sorted({s.held.job_id for s in bad if s.fails_one_time_job and s.held.job_id})
    if one_time:
        await conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(one_time), jobs.c.type == "one_time", jobs.c.status == "completed")
            .values(status="failed", updated_at=now)
        )
    finished = sorted(
        {
            s.held.job_id
            for s in settled
            if s.ending.is_final and s.held.job_id and s.releases_buffered
        }
    )
    await release_buffered(conn, dialect, finished, now)


async def insert_logs(
    conn: AsyncConnection, dialect: Dialect, lines: Sequence[dict[str, Any]]
) -> None:
    """Log lines (execution_id, timestamp, level, message, attempt), in one statement."""
    if lines and dialect.array_batches:
        await bulk_postgres.insert_logs(conn, lines)
    elif lines:
        await conn.execute(job_execution_logs.insert(), list(lines))


async def existing(conn: AsyncConnection, ids: Sequence[str]) -> set[str]:
    """Which of these executions still exist (logs of a deleted one are dropped)."""
    if not ids:
        return set()
    query = select(executions.c.id).where(executions.c.id.in_(sorted(set(ids))))
    return set((await conn.execute(query)).scalars().all())
