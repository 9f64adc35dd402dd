"""The server's CPU in the hot path's bulk statements (store.bulk_postgres),
for batches shaped like W1's: 1,000 claims, successes, job moves and slot
inserts, each run inside a transaction that is rolled back, on a fresh
database migrated to head. What it shows is the client side: the driver
encoding every array element of the parameters, and what the statement
sends once instead (docs/decisions.md, "Bulk writes over arrays").

    .venv/bin/python bench/bulk_encoding.py --dsn $CRONSTREAM_TEST_POSTGRES_DSN

Run it from two trees (PYTHONPATH=<tree>/server) to compare them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cronstream_server.store import bulk_postgres
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import migrated_database

BATCH = 1000
PLATFORM = "00000000-0000-0000-0000-000000000001"


def _ids() -> list[str]:
    return [str(uuid.uuid4()) for _ in range(BATCH)]


def batches(now: datetime) -> dict[str, list[dict[str, Any]]]:
    """W1's rows: one worker session, one due instant, one handler, a trace each."""
    later = now + timedelta(seconds=30)
    return {
        "claim": [
            {
                "b_id": i,
                "b_attempt": 1,
                "b_worker_id": "bench-worker-1",
                "b_session_id": "01a24ef2-45ff-7766-9e8f-a57ac797d4f8",
                "b_started_at": now,
                "b_lease_expires_at": later,
                "b_deadline_at": later,
                "b_trace_id": uuid.uuid4().hex,
                "b_span_id": uuid.uuid4().hex[:16],
                "b_parent_span_id": None,
            }
            for i in _ids()
        ],
        "success": [
            {
                "b_id": i,
                "b_attempt": 1,
                "b_result": None,
                "b_at": now + timedelta(microseconds=n),
                "b_duration_ms": n % 3,
            }
            for n, i in enumerate(_ids())
        ],
        "job move": [
            {
                "b_id": i,
                "b_next_run": None,
                "b_last_run": now,
                "b_runs_count": 1,
                "b_status": "completed",
                "b_completed_at": now,
                "b_updated_at": now,
                "b_added": 1,
            }
            for i in _ids()
        ],
        "slot insert": [_slot(i, now) for i in _ids()],
    }


def _slot(execution_id: str, now: datetime) -> dict[str, Any]:
    nulls = (
        "job_id event_handler_id payload started_at completed_at duration_ms result error"
        " error_stack next_retry_at worker_id parent_span_id traceparent tracestate"
        " waiting_for wait_deadline concurrency_key concurrency_limit rate_limit_key"
        " rate_limit_template"
    ).split()
    return {
        "id": execution_id,
        "platform_id": PLATFORM,
        "trigger": "schedule",
        "status": "pending",
        "handler_name": "noop",
        "priority": 2,
        "scheduled_at": now,
        "due_at": now,
        "attempt": 1,
        "retry_count": 0,
        "max_retries": 0,
        "retry_delay_ms": 1000,
        "timeout_ms": 60000,
        "trace_id": uuid.uuid4().hex,
        "span_id": uuid.uuid4().hex[:16],
        "created_at": now,
        **dict.fromkeys(nulls),
    }


Statement = Callable[[AsyncConnection, list[dict[str, Any]]], Awaitable[object]]
STATEMENTS: dict[str, Statement] = {
    "claim": bulk_postgres.mark_running,
    "success": bulk_postgres.succeed,
    "job move": bulk_postgres.move_jobs,
    "slot insert": bulk_postgres.insert_slots,
}


async def measure(url: str, repeats: int) -> dict[str, float]:
    """Least client CPU (ms) per batch of 1,000 over `repeats` runs of ten."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(
                f"INSERT INTO platforms (id, name, created_at) VALUES ('{PLATFORM}', 'bulk', now())"
            )
            await conn.commit()
            rows = batches(datetime.now(UTC))
            figures = {}
            for name, statement in STATEMENTS.items():
                best = float("inf")
                for _ in range(repeats):
                    started = time.process_time()
                    for _ in range(10):
                        transaction = await conn.begin()
                        await statement(conn, rows[name])
                        await transaction.rollback()
                    best = min(best, (time.process_time() - started) / 10 * 1000)
                figures[name] = round(best, 2)
            return figures
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", help="an existing Postgres (postgresql://...); default: throwaway")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with migrated_database(args.dsn, "bulk_encoding") as database:
        figures = asyncio.run(measure(database.url, args.repeats))
    for name, ms in figures.items():
        print(f"{name:12} {ms:6.2f} ms of server CPU per 1,000", file=sys.stderr)
    print(f"{'all four':12} {sum(figures.values()):6.2f} ms", file=sys.stderr)
    print(json.dumps({"benchmark": "bulk_encoding", "client_cpu_ms_per_1000": figures}))


if __name__ == "__main__":
    main()
