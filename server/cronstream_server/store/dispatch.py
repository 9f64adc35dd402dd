"""DispatchStore (core.ports) on SQL: each method is one short transaction
over the queries of `store.queries_dispatch`, on the database's clock."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from cronstream_server.core import dispatch as rules
from cronstream_server.core.admission import LimitId, has_keys
from cronstream_server.core.dispatch import (
    Claimed,
    EndCause,
    Pending,
    Reaped,
    Report,
    Settlement,
    Verdict,
    Want,
)
from cronstream_server.core.executions import ExecutionLog
from cronstream_server.core.ids import is_valid_id
from cronstream_server.core.ports import DecideClaim
from cronstream_server.core.rate_limits import Scope
from cronstream_server.store import queries_dispatch as q
from cronstream_server.store import queries_limits as ql
from cronstream_server.store.clock import database_now
from cronstream_server.store.database import dialect_of
from cronstream_server.store.errors import database_errors, is_foreign_key_violation
from cronstream_server.store.gated_claim import claim_gated
from cronstream_server.store.queries_alerts import track_failures

# Told what each committed transaction settled, and why (telemetry.metrics).
SettledListener = Callable[[Sequence[Settlement], EndCause], None]


def _ignore(_settled: Sequence[Settlement], _cause: EndCause) -> None:
    pass


class SqlDispatchStore:
    def __init__(self, engine: AsyncEngine, on_settled: SettledListener = _ignore) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)
        self._on_settled = on_settled

    async def claim(self, wants: Sequence[Want], ahead: timedelta, decide: DecideClaim) -> Claimed:
        """Candidates that no concurrency key or rate limit applies to (the
        common case) go straight to `decide`; the others through
        `store.gated_claim`, which admits only those with a free place and
        a token."""
        async with database_errors(), self._engine.begin() as conn:
            sent_at = datetime.now(UTC)
            now = await database_now(conn, self._dialect)
            read_at = datetime.now(UTC)
            clocks = (now, sent_at, read_at)
            found: dict[Want, list[Pending]] = {}
            limited: list[Want] = []
            for want in wants:
                read = await q.due_candidates(conn, want, now + ahead)
                found[want] = read.pending
                limited += [want] if read.handler_limited else []
            candidates = [c for listed in found.values() for c in listed]
            if not candidates:
                return Claimed([], *clocks)
            limits = await ql.limits_named(conn, _handler_limits(limited))
            if limits or has_keys(candidates):
                starts, retry_at = await claim_gated(
                    conn, self._dialect, found, now + ahead, limits, decide
                )
                return Claimed(starts, *clocks, retry_at)
            starts = decide(candidates, now)
            await q.mark_running(conn, self._dialect, starts)
        return Claimed(starts, *clocks)

    async def settle(
        self, reports: Sequence[Report], rng: random.Random, cap: timedelta
    ) -> list[Verdict]:
        ids = [r.execution_id for r in reports if is_valid_id(r.execution_id)]
        async with database_errors(), self._engine.begin() as conn:
            now = await database_now(conn, self._dialect)
            held = await q.lock_held(conn, self._dialect, ids)
            verdicts, settled = rules.settle_reports(held, reports, now, rng, cap)
            await q.write_settlements(conn, self._dialect, settled)
            await q.count_on_jobs(conn, self._dialect, settled, now)
            await track_failures(conn, self._dialect, settled, now)
        self._on_settled(settled, EndCause.REPORTED)
        return verdicts

    async def extend_leases(
        self, held: Sequence[tuple[str, str]], lease: timedelta
    ) -> set[tuple[str, str]]:
        valid = [(e, s) for e, s in held if is_valid_id(e)]
        if not valid:
            return set()
        async with database_errors(), self._engine.begin() as conn:
            now = await database_now(conn, self._dialect)
            return await q.extend_leases(conn, valid, now + lease)

    async def rebind(
        self,
        platform_id: str,
        session: tuple[str, str],
        attempts: Sequence[tuple[str, int]],
        lease: timedelta,
    ) -> tuple[set[str], list[tuple[str, str]]]:
        valid = [(e, a) for e, a in attempts if is_valid_id(e)]
        async with database_errors(), self._engine.begin() as conn:
            now = await database_now(conn, self._dialect)
            kept = await q.rebind(conn, platform_id, session, valid, now + lease)
            released = await q.release_unheld(conn, platform_id, session, valid, now)
        return kept, released

    async def release_sessions(
        self, session_ids: Sequence[str], *, worker_lost: bool
    ) -> list[tuple[str, str]]:
        if not session_ids:
            return []
        async with database_errors(), self._engine.begin() as conn:
            now = await database_now(conn, self._dialect)
            if not worker_lost:
                return await q.release_sessions(conn, session_ids, now)
            held = await q.lock_sessions(conn, session_ids)
            lost = [rules.settle_lost(h, now, "stream closed") for h in held]
            await q.write_settlements(conn, self._dialect, lost)
            await q.count_on_jobs(conn, self._dialect, lost, now)
            await track_failures(conn, self._dialect, lost, now)
        self._on_settled(lost, EndCause.LOST)
        return [(s.held.id, s.held.platform_id) for s in lost]

    async def release_attempts(self, attempts: Sequence[tuple[str, int]]) -> None:
        if attempts:
            async with database_errors(), self._engine.begin() as conn:
                await q.release_attempts(conn, attempts, await database_now(conn, self._dialect))

    async def reap(self, limit: int, rng: random.Random, cap: timedelta) -> Reaped:
        async with database_errors(), self._engine.begin() as conn:
            now = await database_now(conn, self._dialect)
            lost = await q.lock_expired_leases(conn, now, limit)
            expired = [rules.settle_lost(held, now, "lease expired") for held in lost]
            late = await q.lock_past_deadline(conn, now, limit)
            timed_out = [rules.settle_timeout(held, now, rng, cap) for held in late]
            await q.write_settlements(conn, self._dialect, expired + timed_out)
            await q.count_on_jobs(conn, self._dialect, expired + timed_out, now)
            await track_failures(conn, self._dialect, expired + timed_out, now)
        self._on_settled(expired, EndCause.LOST)
        self._on_settled(timed_out, EndCause.TIMEOUT)
        return Reaped([(s.held.id, s.held.platform_id) for s in expired], timed_out)

    async def add_logs(self, lines: Sequence[ExecutionLog]) -> None:
        rows = [_log_row(line) for line in lines if is_valid_id(line.execution_id)]
        try:
            async with database_errors(), self._engine.begin() as conn:
                await q.insert_logs(conn, self._dialect, rows)
        except sa_exc.IntegrityError as error:
            if not is_foreign_key_violation(error):
                raise
            async with database_errors(), self._engine.begin() as conn:
                alive = await q.existing(conn, [row["execution_id"] for row in rows])
                await q.insert_logs(
                    conn, self._dialect, [row for row in rows if row["execution_id"] in alive]
                )


def _handler_limits(wants: Sequence[Want]) -> list[LimitId]:
    return [(w.platform_id, Scope.HANDLER, w.handler_name) for w in wants]


def _log_row(line: ExecutionLog) -> dict[str, Any]:
    return {
        "execution_id": line.execution_id,
        "timestamp": line.time,
        "level": line.level.value,
        # Postgres text cannot hold U+0000; a log line is kept, not refused.
        "message": line.message.replace("\x00", "\ufffd"),
        "attempt": line.attempt,
    }
