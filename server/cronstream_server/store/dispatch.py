"""DispatchStore on SQL: each method is one short transaction over the
queries of `store.queries_dispatch`, on the database's clock."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from cronstream_server.core import dispatch as rules
from cronstream_server.core.dispatch import Pending, Report, Settlement, Start, Verdict, Want
from cronstream_server.core.executions import ExecutionLog
from cronstream_server.core.ids import is_valid_id
from cronstream_server.store import queries_dispatch as q
from cronstream_server.store.errors import database_errors, is_foreign_key_violation

Decide = Callable[[list[Pending], datetime], list[Start]]


@dataclass(frozen=True, slots=True)
class Claimed:
    starts: list[Start]
    now: datetime  # the database's clock, which decided what was due
    # This process's clock just after reading the database's: the database's
    # was read before it, so an offset taken from the two never runs ahead.
    read_at: datetime


@dataclass(frozen=True)
class Reaped:
    """One reaper pass: leases that ran out, and executions past their deadline."""

    expired: list[tuple[str, str]] = field(default_factory=list)  # (execution, platform)
    timed_out: list[Settlement] = field(default_factory=list)


class SqlDispatchStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(self, wants: Sequence[Want], ahead: timedelta, decide: Decide) -> Claimed:
        """Locks the executions `wants` asks for that are due now or within
        `ahead`, lets `decide` pick which start where, and marks those
        running, in one transaction; candidates not picked stay pending."""
        async with database_errors(), self._engine.begin() as conn:
            now = await q.database_now(conn)
            read_at = datetime.now(UTC)
            candidates: list[Pending] = []
            for want in wants:
                candidates.extend(await q.due_candidates(conn, want, now + ahead))
            if not candidates:
                return Claimed([], now, read_at)
            starts = decide(candidates, now)
            await q.mark_running(conn, starts)
        return Claimed(starts, now, read_at)

    async def settle(
        self, reports: Sequence[Report], rng: random.Random, cap: timedelta
    ) -> list[Verdict]:
        """Applies a batch of results in one transaction; a verdict per report."""
        ids = [r.execution_id for r in reports if is_valid_id(r.execution_id)]
        async with database_errors(), self._engine.begin() as conn:
            now = await q.database_now(conn)
            held = await q.lock_held(conn, ids)
            verdicts, settled = rules.settle_reports(held, reports, now, rng, cap)
            await q.write_settlements(conn, settled)
            await q.count_on_jobs(conn, settled, now)
        return verdicts

    async def extend_leases(
        self, held: Sequence[tuple[str, str]], lease: timedelta
    ) -> set[tuple[str, str]]:
        """Heartbeats of every session at once; returns the (execution,
        session) pairs whose lease now runs until the database's now + lease."""
        valid = [(e, s) for e, s in held if is_valid_id(e)]
        if not valid:
            return set()
        async with database_errors(), self._engine.begin() as conn:
            now = await q.database_now(conn)
            return await q.extend_leases(conn, valid, now + lease)

    async def rebind(
        self,
        platform_id: str,
        session: tuple[str, str],
        attempts: Sequence[tuple[str, int]],
        lease: timedelta,
    ) -> tuple[set[str], list[tuple[str, str]]]:
        """Moves the still-current attempts to `session` (id, worker id), and
        releases what earlier sessions of that worker ran that the worker no
        longer names. Returns the ids kept, and (id, platform id) released."""
        valid = [(e, a) for e, a in attempts if is_valid_id(e)]
        async with database_errors(), self._engine.begin() as conn:
            now = await q.database_now(conn)
            kept = await q.rebind(conn, platform_id, session, valid, now + lease)
            released = await q.release_unheld(conn, platform_id, session, valid, now)
        return kept, released

    async def release_sessions(
        self, session_ids: Sequence[str], *, worker_lost: bool
    ) -> list[tuple[str, str]]:
        """The sessions' running executions go back to pending as new attempts.

        When the worker was lost (its stream broke) each counts as a failed
        attempt, as a lease expiry does; when this server hands work back as it
        shuts down, nobody failed and no retry is used up."""
        if not session_ids:
            return []
        async with database_errors(), self._engine.begin() as conn:
            now = await q.database_now(conn)
            if not worker_lost:
                return await q.release_sessions(conn, session_ids, now)
            held = await q.lock_sessions(conn, session_ids)
            lost = [rules.settle_lost(h, now, "stream closed") for h in held]
            await q.write_settlements(conn, lost)
            await q.count_on_jobs(conn, lost, now)
        return [(s.held.id, s.held.platform_id) for s in lost]

    async def release_attempts(self, attempts: Sequence[tuple[str, int]]) -> None:
        if attempts:
            async with database_errors(), self._engine.begin() as conn:
                await q.release_attempts(conn, attempts, await q.database_now(conn))

    async def reap(self, limit: int, rng: random.Random, cap: timedelta) -> Reaped:
        """Expired leases back to pending; executions past their deadline
        retried or timed out. One transaction, so a row is never both."""
        async with database_errors(), self._engine.begin() as conn:
            now = await q.database_now(conn)
            lost = await q.lock_expired_leases(conn, now, limit)
            expired = [rules.settle_lost(held, now, "lease expired") for held in lost]
            late = await q.lock_past_deadline(conn, now, limit)
            timed_out = [rules.settle_timeout(held, now, rng, cap) for held in late]
            await q.write_settlements(conn, expired + timed_out)
            await q.count_on_jobs(conn, expired + timed_out, now)
        return Reaped([(s.held.id, s.held.platform_id) for s in expired], timed_out)

    async def add_logs(self, lines: Sequence[ExecutionLog]) -> None:
        """Inserts log lines in one statement; lines of executions deleted
        meanwhile (their platform was deleted) are dropped."""
        rows = [_log_row(line) for line in lines if is_valid_id(line.execution_id)]
        try:
            async with database_errors(), self._engine.begin() as conn:
                await q.insert_logs(conn, rows)
        except sa_exc.IntegrityError as error:
            if not is_foreign_key_violation(error):
                raise
            async with database_errors(), self._engine.begin() as conn:
                alive = await q.existing(conn, [row["execution_id"] for row in rows])
                await q.insert_logs(conn, [row for row in rows if row["execution_id"] in alive])


def _log_row(line: ExecutionLog) -> dict[str, Any]:
    return {
        "execution_id": line.execution_id,
        "timestamp": line.time,
        "level": line.level.value,
        # Postgres text cannot hold U+0000; a log line is kept, not refused.
        "message": line.message.replace("\x00", "\ufffd"),
        "attempt": line.attempt,
    }
