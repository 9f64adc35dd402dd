"""W2, precision: S schedules firing every second for T seconds, run by
workers over WorkerService; lateness of each handler start after its
scheduled instant, and the slots missed or run twice.

    .venv/bin/python bench/precision.py --schedules 1000 --seconds 30
    .venv/bin/python bench/precision.py --schedules 1000 --seconds 30 --servers 2

Prints one JSON line. Without --dsn it starts its own throwaway Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cronstream.v1 import (
    job_pb2,
)

from bench.harness import create_jobs, log, percentile, postgres, scratch_database
from bench.replicas import add_arguments, figures, replicas, spread
from bench.workers.launch import workers

HANDLER = "tick"
EVERY_SECOND = "* * * * * *"  # six fields: the first is the second


def every_second(count: int) -> Iterator[job_pb2.Job]:
    for index in range(count):
        trigger = job_pb2.CronTrigger(expression=EVERY_SECOND)
        yield job_pb2.Job(name=f"w2-{index}", handler_name=HANDLER, cron=trigger)


def read_runs(records: list[Path]) -> list[tuple[str, int, int]]:
    runs = []
    for record in records:
        if record.exists():
            for line in record.read_text().splitlines():
                execution_id, scheduled_us, started_us = line.split()
                runs.append((execution_id, int(scheduled_us), int(started_us)))
    return runs


def per_worker(records: list[Path], servers: int, start_us: int, end_us: int) -> list[object]:
    """Each worker process's share and lateness: worker i is served by server
    i mod N, so a replica that hands work late shows in its workers' rows."""
    rows: list[object] = []
    for index, record in enumerate(records):
        runs = [r for r in read_runs([record]) if start_us <= r[1] < end_us]
        lateness = sorted((started - scheduled) / 1000 for _, scheduled, started in runs)
        rows.append(
            {
                "server": index % servers,
                "runs": len(runs),
                "p50_ms": round(percentile(lateness, 0.5), 1),
                "p99_ms": round(percentile(lateness, 0.99), 1),
            }
        )
    return rows


async def slots_in_database(dsn: str, start_us: int, end_us: int) -> tuple[int, int]:
    """(executions, distinct (job, slot)) the database holds in the window."""
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "select count(*) as n, count(distinct (job_id, scheduled_at)) as d"
            " from job_executions where scheduled_at >= to_timestamp($1::float8)"
            " and scheduled_at < to_timestamp($2::float8)",
            start_us / 1e6,
            end_us / 1e6,
        )
        return int(row["n"]), int(row["d"])
    finally:
        await connection.close()


def run(args: argparse.Namespace) -> dict[str, object]:
    with postgres(args.dsn) as cluster:
        with (
            scratch_database(cluster, "w2", keep=False) as database,
            replicas(database, args, metrics=args.metrics) as servers,
            tempfile.TemporaryDirectory() as folder,
        ):
            srv, records_dir = servers.first, Path(folder)
            targets = servers.targets()
            with workers(
                args.worker, args.processes, targets, srv.key, HANDLER, args.slots, records_dir
            ) as records:
                streams = spread(database.dsn, servers, args.processes)
                cpu_before = servers.cpu_seconds()
                started = time.monotonic()
                asyncio.run(create_jobs(srv.address, srv.key, every_second(args.schedules)))
                log(f"w2: created {args.schedules} schedules in {time.monotonic() - started:.1f}s")
                # The window starts on a whole second after every schedule exists.
                window_start = math.ceil(time.time()) + 2
                window_end = window_start + args.seconds
                time.sleep(max(0.0, window_end - time.time()) + args.drain)
                cpu = servers.cpu_since(cpu_before)
            start_us, end_us = window_start * 1_000_000, window_end * 1_000_000
            stored, distinct_stored = asyncio.run(slots_in_database(database.dsn, start_us, end_us))
            runs = [r for r in read_runs(records) if start_us <= r[1] < end_us]
            workers_figures = per_worker(records, len(servers.servers), start_us, end_us)
    lateness = sorted((started - scheduled) / 1000 for _, scheduled, started in runs)
    expected = args.schedules * args.seconds
    fired = len({execution_id for execution_id, _, _ in runs})
    return {
        "system": "cronstream",
        "workload": "w2",
        "worker": args.worker,
        "metrics": args.metrics,
        "schedules": args.schedules,
        "seconds": args.seconds,
        "expected": expected,
        "fired": fired,
        "missed": expected - fired,
        "doubled": len(runs) - fired,
        "slots_stored": stored,
        "slots_stored_twice": stored - distinct_stored,
        # Negative would be a handler started before its instant: a bug.
        "min_ms": round(lateness[0], 1) if lateness else None,
        "p50_ms": round(percentile(lateness, 0.5), 1),
        "p95_ms": round(percentile(lateness, 0.95), 1),
        "p99_ms": round(percentile(lateness, 0.99), 1),
        "max_ms": round(lateness[-1], 1) if lateness else None,
        # CPU from the load to the end of the drain, per 1,000 slots fired in the window.
        **figures(servers, cpu, fired, streams),
        "per_worker": workers_figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="an existing Postgres (postgresql://...); default: throwaway")
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--worker", choices=("python", "go"), default="go")
    parser.add_argument(
        "--metrics", action="store_true", help="serve metrics, scraped every second"
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--slots", type=int, default=500)
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to finish after it")
    add_arguments(parser)
    print(json.dumps(run(parser.parse_args())), flush=True)


if __name__ == "__main__":
    main()
