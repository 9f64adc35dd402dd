"""W3, a realistic mix: N cron jobs of varied schedules and zones, event
triggers and control-plane calls at steady rates, workers whose handlers
take 10-50 ms; lateness of cron and event executions, control-plane
latency, and what the window cost the server and Postgres.

    .venv/bin/python bench/mix.py --jobs 100000 --seconds 60 --redis

Prints one JSON line. Without --dsn it starts its own throwaway Postgres
(and Redis: --redis runs the server with CRONSTREAM_REDIS_URL on it).
The jobs are bench/mix_jobs.py's spread; the traffic bench/mix_load.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cronstream.v1 import scheduler_service_pb2_grpc

from bench.cluster_cost import SNAPSHOT_TRANSACTIONS, snapshot
from bench.control_plane import auth_of
from bench.harness import (
    Postgres,
    Server,
    create_jobs,
    log,
    percentile,
    postgres,
    profiled,
    scratch_database,
    server,
)
from bench.mix_jobs import HANDLER, cron_jobs, expected_slots, spread
from bench.mix_load import ControlPlane, create_event_handlers, event_trigger, pool_job, run_paced
from bench.precision import read_runs
from bench.workers.launch import workers

POOL = 200  # the control plane's own jobs, which it pauses, resumes and updates
EVENT_CLIENTS, CALL_CLIENTS = 4, 4
QUICK_JOBS, QUICK_SECONDS = 10_000, 20


@dataclass
class Window:
    """The measured window (Unix seconds) and what was read at its ends."""

    start: int
    end: int
    cpu_seconds: float = 0.0
    transactions: int = 0
    published: dict[str, int] = field(default_factory=dict)  # event execution id -> µs
    traffic: dict[str, Any] = field(default_factory=dict)


def window_start(seconds: int, warmup: float) -> int:
    """The first whole second after the warm-up from which a window of
    `seconds` holds a top of the minute (the burst of `* * * * *` jobs): a
    window under a minute is centred on the next one."""
    earliest = math.ceil(time.time() + warmup)
    if seconds >= 60:
        return earliest
    minute = (earliest // 60 + 1) * 60
    return max(earliest, minute - seconds // 2)


async def prepare(srv: Server, slots_count: int, ids: list[str], pool: list[str]) -> float:
    """Event handlers, the control plane's pool, then the cron jobs; returns
    the seconds the cron jobs took to load."""
    auth = auth_of(srv.key)
    async with grpc.aio.insecure_channel(srv.address) as channel:
        await create_event_handlers(scheduler_service_pb2_grpc.SchedulerServiceStub(channel), auth)
    pool_jobs = (pool_job(f"cp-{i}") for i in range(POOL))
    await create_jobs(srv.address, srv.key, pool_jobs, ids=pool)
    return await create_jobs(srv.address, srv.key, cron_jobs(spread(slots_count)), ids=ids)


async def traffic(
    srv: Server, database: Postgres, window: Window, args: argparse.Namespace, jobs: ControlPlane
) -> None:
    """Waits for the window, then runs the events and the control plane in
    it, reading the server's CPU and Postgres's commits at both ends."""
    await asyncio.sleep(max(0.0, window.start - time.time()))
    cpu, before = srv.cpu_seconds(), await snapshot(database.dsn)
    trigger = event_trigger(auth_of(srv.key), window.published)
    events, control = await asyncio.gather(
        run_paced(srv.address, EVENT_CLIENTS, args.events_per_second, window.end, trigger),
        run_paced(srv.address, CALL_CLIENTS, args.calls_per_second, window.end, jobs),
    )
    # The whole window, even with both traffics left out (the cron jobs alone).
    await asyncio.sleep(max(0.0, window.end - time.time()))
    window.cpu_seconds = srv.cpu_seconds() - cpu
    after = await snapshot(database.dsn)
    window.transactions = after.minus(before, SNAPSHOT_TRANSACTIONS).transactions
    window.traffic = {"events": events.summary(), "control_plane": control.summary()}


async def stored_figures(dsn: str, start: int, end: int) -> dict[str, Any]:
    """What the database holds for the window: cron executions and distinct
    (job, slot) among them, and the median duration the server recorded for
    the executions scheduled in it: from its start to the server's receipt of
    its result, so the handler's 10-50 ms plus the result's way back."""
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "select count(*) filter (where job_id is not null) as n,"
            " count(distinct (job_id, scheduled_at)) filter (where job_id is not null) as d,"
            " percentile_cont(0.5) within group (order by duration_ms) as duration_ms"
            " from job_executions where scheduled_at"
            " >= to_timestamp($1::float8) and scheduled_at < to_timestamp($2::float8)",
            float(start),
            float(end),
        )
        duration_ms = row["duration_ms"]
        return {
            "slots_stored": int(row["n"]),
            "slots_stored_twice": int(row["n"]) - int(row["d"]),
            "duration_p50_ms": round(float(duration_ms), 1) if duration_ms is not None else None,
        }
    finally:
        await connection.close()


def redis_url(args: argparse.Namespace, cluster: Postgres) -> dict[str, str]:
    """The server's environment for --redis: --redis-url, the throwaway
    cluster's Redis, or CRONSTREAM_TEST_REDIS_URL, in that order."""
    if not args.redis:
        return {}
    url = args.redis_url or cluster.redis_url or os.environ.get("CRONSTREAM_TEST_REDIS_URL")
    if not url:
        raise SystemExit("--redis: no Redis; give --redis-url (or drop --dsn)")
    return {"CRONSTREAM_REDIS_URL": url}


def run(args: argparse.Namespace) -> dict[str, Any]:
    ids: list[str] = []
    with postgres(args.dsn) as cluster:
        with (
            scratch_database(cluster, "w3", keep=False) as database,
            server(database, env=redis_url(args, cluster)) as srv,
            tempfile.TemporaryDirectory() as folder,
        ):
            sleep = (args.handler_min_ms, args.handler_max_ms)
            with workers(
                args.worker, args.processes, srv.address, srv.key, HANDLER, args.slots,
                Path(folder), sleep,
            ) as records:  # fmt: skip
                pool: list[str] = []
                load_seconds = asyncio.run(prepare(srv, args.jobs, ids, pool))
                log(f"w3: created {args.jobs} cron jobs in {load_seconds:.1f}s")
                start = window_start(args.seconds, args.warmup)
                window = Window(start, start + args.seconds)
                calls = ControlPlane(auth_of(srv.key), ids, pool)
                with profiled(srv.pid, args.profile):
                    asyncio.run(traffic(srv, database, window, args, calls))
                time.sleep(max(0.0, window.end + args.drain - time.time()))
            stored = asyncio.run(stored_figures(database.dsn, window.start, window.end))
            runs = read_runs(records)
    expected = expected_slots(spread(args.jobs), window.start, window.end)
    return report(args, window, runs, expected, stored, load_seconds)


def lateness(values_ms: list[float]) -> dict[str, float | None]:
    values_ms.sort()
    if not values_ms:
        return {}
    return {
        # Negative would be a handler started before its instant: a bug.
        "min_ms": round(values_ms[0], 1),
        "p50_ms": round(percentile(values_ms, 0.5), 1),
        "p95_ms": round(percentile(values_ms, 0.95), 1),
        "p99_ms": round(percentile(values_ms, 0.99), 1),
        "max_ms": round(values_ms[-1], 1),
    }


def report(
    args: argparse.Namespace,
    window: Window,
    runs: list[tuple[str, int, int]],
    expected: int,
    stored: dict[str, Any],
    load_seconds: float,
) -> dict[str, Any]:
    start_us, end_us = window.start * 1_000_000, window.end * 1_000_000
    cron = [r for r in runs if r[0] not in window.published and start_us <= r[1] < end_us]
    fired = len({execution_id for execution_id, _, _ in cron})
    events = [r for r in runs if r[0] in window.published]
    executions = sum(1 for _, _, started in runs if start_us <= started < end_us)
    per_1000 = 1000 / max(executions, 1)
    return {
        "system": "cronstream",
        "workload": "w3",
        "worker": args.worker,
        "redis": args.redis,
        "jobs": args.jobs,
        "seconds": args.seconds,
        "handler_ms": f"{args.handler_min_ms}-{args.handler_max_ms}",
        "load_seconds": round(load_seconds, 1),
        "expected": expected,
        "fired": fired,
        "missed": expected - fired,
        "doubled": len(cron) - fired,
        **stored,
        **lateness([(started - scheduled) / 1000 for _, scheduled, started in cron]),
        "events": {
            "executions": len(window.published),
            "started": len({r[0] for r in events}),
            **lateness([(r[2] - window.published[r[0]]) / 1000 for r in events]),
            "trigger_calls": window.traffic.get("events"),
        },
        "control_plane": window.traffic.get("control_plane"),
        "executions_started": executions,
        "server_cpu_seconds": round(window.cpu_seconds, 2),
        # Of one core over the window: at W3's rates much of it is the cost of
        # holding the jobs (the ticker) and serving the calls, not per execution.
        "server_cpu_percent": round(100 * window.cpu_seconds / args.seconds, 1),
        "server_cpu_ms_per_1000": round(window.cpu_seconds * 1000 * per_1000, 1),
        "transactions_per_1000": round(window.transactions * per_1000, 1),
    }


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="an existing Postgres (postgresql://...); default: throwaway")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=60, help="the measured window")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_JOBS} jobs, {QUICK_SECONDS} s"
    )
    parser.add_argument("--events-per-second", type=float, default=200.0)
    parser.add_argument("--calls-per-second", type=float, default=50.0)
    parser.add_argument("--redis", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument(
        "--redis-url", help="default: the throwaway one, or $CRONSTREAM_TEST_REDIS_URL"
    )
    parser.add_argument("--worker", choices=("python", "go"), default="go")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--slots", type=int, default=500, help="per worker process")
    parser.add_argument("--handler-min-ms", type=int, default=10)
    parser.add_argument("--handler-max-ms", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds after the load")
    parser.add_argument("--profile", type=Path, help="a py-spy profile of the server's window")
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to finish after it")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.seconds = QUICK_JOBS, QUICK_SECONDS
    return args


def main() -> None:
    print(json.dumps(run(arguments())), flush=True)


if __name__ == "__main__":
    main()
