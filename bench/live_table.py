"""What Postgres spends on each execution's rows, as the schema writes them
today and as a narrow table of live executions would (docs/storage.md, "What
is left"): the evidence for that redesign, before anyone builds it.

On a fresh database migrated to head, batches of 1,000 executions go through
the writes of a W1 execution, as the hot path's bulk statements make them
(one statement over arrays per batch), and the Postgres backend's CPU time is
read from /proc around each pattern:

- today: the execution row inserted pending into job_executions (14
  indexes), updated to running at the claim, to success at the result;
- live: the row inserted into a table of live executions with the same
  columns and only the indexes the claim and the reaper read (primary key,
  claim, deadlines), updated to running there, and at the result moved into
  job_executions once, finished (DELETE ... RETURNING into an INSERT);
- live + slot key: the same, plus a row of (job_id, scheduled_at) in a table
  of its own, which would keep a slot unique across both tables (today
  uq_job_executions_slot does it);
- the job row (beside any of them): the ticker's claim of the due jobs (FOR
  UPDATE SKIP LOCKED), its move, and the result counters.

Patterns alternate within each round, so the machine's drift is shared.

    scripts/services.sh start /tmp/cs && . /tmp/cs/env
    .venv/bin/python bench/live_table.py --dsn $CRONSTREAM_TEST_POSTGRES_DSN
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import migrated_database
from bench.procfs import cpu_seconds

PLATFORM = "00000000-0000-0000-0000-000000000001"
BATCH = 1000
BATCHES_PER_ROUND = 4

# The columns a plain slot sets (rows.execution_values less its NULLs).
_COLUMNS = (
    "id, platform_id, trigger, status, handler_name, priority, scheduled_at, due_at,"
    " attempt, retry_count, max_retries, retry_delay_ms, timeout_ms, created_at,"
    " trace_id, span_id"
)
_INSERT = f"""
INSERT INTO {{table}} ({_COLUMNS})
SELECT v.id, '{PLATFORM}', 'schedule', 'pending', 'noop', 2, now(), now(), 1, 0, 0, 1000,
       60000, now(), md5(v.id::text), left(md5(v.id::text), 16)
FROM unnest($1::uuid[]) AS v(id)
"""
_CLAIM = """
UPDATE {table} AS e SET status = 'running', worker_id = 'w', session_id = 's',
    started_at = now(), lease_expires_at = now() + interval '30 s',
    deadline_at = now() + interval '5 min'
FROM unnest($1::uuid[], $2::int[]) AS v(id, attempt)
WHERE e.id = v.id AND e.status = 'pending' AND e.attempt = v.attempt
"""
_SUCCEED = """
UPDATE job_executions AS e SET status = 'success', completed_at = now(), duration_ms = 1,
    lease_expires_at = NULL
FROM unnest($1::uuid[], $2::int[]) AS v(id, attempt)
WHERE e.id = v.id AND e.status = 'running' AND e.attempt = v.attempt
"""
_MOVE_OUT = f"""
WITH gone AS (
    DELETE FROM live AS e USING unnest($1::uuid[], $2::int[]) AS v(id, attempt)
    WHERE e.id = v.id AND e.status = 'running' AND e.attempt = v.attempt
    RETURNING e.*
)
INSERT INTO job_executions ({_COLUMNS}, worker_id, session_id, started_at, deadline_at,
                            completed_at, duration_ms)
SELECT id, platform_id, trigger, 'success', handler_name, priority, scheduled_at, due_at,
       attempt, retry_count, max_retries, retry_delay_ms, timeout_ms, created_at, trace_id,
       span_id, worker_id, session_id, started_at, deadline_at, now(), 1
FROM gone
"""
_SLOT_KEY = """
INSERT INTO slot_keys SELECT v.id, now() FROM unnest($1::uuid[]) AS v(id) ON CONFLICT DO NOTHING
"""
_LIVE_TABLE = """
CREATE TABLE live (LIKE job_executions INCLUDING DEFAULTS) WITH (fillfactor = 80);
ALTER TABLE live ADD PRIMARY KEY (id);
CREATE INDEX ON live (platform_id, handler_name, priority DESC, due_at, id)
    WHERE status = 'pending';
CREATE INDEX ON live (deadline_at) WHERE status = 'running';
CREATE TABLE slot_keys (job_id uuid, scheduled_at timestamptz, PRIMARY KEY (job_id, scheduled_at));
"""
_JOBS = f"""
INSERT INTO scheduled_jobs (id, platform_id, name, type, status, run_at, next_run,
    handler_name, tags, metadata, created_by, created_at, updated_at)
SELECT gen_random_uuid(), '{PLATFORM}', 'j-' || gen_random_uuid(), 'one_time', 'active',
       now(), now(), 'noop', '[]', '{{}}', 'bench', now(), now()
FROM generate_series(1, $1)
"""
_DUE_JOBS = """
SELECT * FROM scheduled_jobs WHERE status = 'active' AND next_run <= now() + interval '1 s'
ORDER BY next_run LIMIT 1000 FOR UPDATE SKIP LOCKED
"""
_MOVE_JOBS = """
UPDATE scheduled_jobs AS j SET next_run = NULL, last_run = now(), runs_count = 1,
    status = 'completed', completed_at = now(), updated_at = now(),
    executions_count = j.executions_count + 1
FROM unnest($1::uuid[]) AS v(id) WHERE j.id = v.id
"""
_COUNT_SUCCESSES = """
UPDATE scheduled_jobs AS j SET success_count = j.success_count + 1,
    avg_duration_ms = coalesce((j.avg_duration_ms * j.success_count + 1)
                               / (j.success_count + 1), 1)
FROM unnest($1::uuid[]) AS v(id) WHERE j.id = v.id
"""

Pattern = Callable[[asyncpg.Connection], Awaitable[None]]


async def today(conn: asyncpg.Connection) -> None:
    ids, attempts = _batch()
    await conn.execute(_INSERT.format(table="job_executions"), ids)
    await conn.execute(_CLAIM.format(table="job_executions"), ids, attempts)
    await conn.execute(_SUCCEED, ids, attempts)


async def live(conn: asyncpg.Connection) -> None:
    ids, attempts = _batch()
    await conn.execute(_INSERT.format(table="live"), ids)
    await conn.execute(_CLAIM.format(table="live"), ids, attempts)
    moved = await conn.execute(_MOVE_OUT, ids, attempts)
    assert moved.endswith(f" {BATCH}"), moved


async def live_with_slot_keys(conn: asyncpg.Connection) -> None:
    ids, _ = _batch()
    await conn.execute(_SLOT_KEY, ids)
    await live(conn)


async def job_rows(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        claimed = [row["id"] for row in await conn.fetch(_DUE_JOBS)]
        await conn.execute(_MOVE_JOBS, claimed)
    await conn.execute(_COUNT_SUCCESSES, claimed)


def _batch() -> tuple[list[uuid.UUID], list[int]]:
    return [uuid.uuid4() for _ in range(BATCH)], [1] * BATCH


PATTERNS: dict[str, Pattern] = {
    "today": today,
    "live": live,
    "live + slot key": live_with_slot_keys,
    "job row": job_rows,
}


async def measure(dsn: str, rounds: int) -> dict[str, float]:
    """Median over the rounds of the Postgres backend's CPU (ms) per 1,000
    executions, per pattern. /proc counts in ticks of 10 ms, so a round runs
    each pattern over BATCHES_PER_ROUND batches; the median leaves out a round
    that autovacuum or another process disturbed."""
    # Custom plans only: a generic plan counts ten rows in an unnest of a
    # parameter, and the live table's statements then turned into nested
    # loops over every live row for each of the batch's (0.5 s a batch).
    conn = await asyncpg.connect(dsn, server_settings={"plan_cache_mode": "force_custom_plan"})
    try:
        await conn.execute(_LIVE_TABLE)
        await conn.execute(
            "INSERT INTO platforms (id, name, created_at) VALUES ($1, 'live-table', now())",
            uuid.UUID(PLATFORM),
        )
        await conn.execute(_JOBS, BATCH * BATCHES_PER_ROUND * rounds)
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        spent: dict[str, list[float]] = {name: [] for name in PATTERNS}
        for _ in range(rounds):
            for name, pattern in PATTERNS.items():
                before = cpu_seconds(backend)
                for _ in range(BATCHES_PER_ROUND):
                    await pattern(conn)
                spent[name].append((cpu_seconds(backend) - before) * 1000 / BATCHES_PER_ROUND)
        return {name: round(statistics.median(ms), 1) for name, ms in spent.items()}
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", help="an existing Postgres (postgresql://...); default: throwaway")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with migrated_database(args.dsn, "live_table") as database:
        figures = asyncio.run(measure(database.dsn, args.rounds))
    base = figures["today"]
    for name, ms in figures.items():
        ratio = "" if name == "job row" else f"  {ms / base:.2f}x of today"
        print(f"{name:16} {ms:7.1f} ms of Postgres CPU per 1,000{ratio}", file=sys.stderr)
    print(json.dumps({"benchmark": "live_table", "postgres_cpu_ms_per_1000": figures}))


if __name__ == "__main__":
    main()
