"""Fairness: platform B's every-second schedules while platform A bursts.

B has 20 schedules firing every second, worked by its own Go worker. A's
burst is worked by A's own workers, as in W1: 20,000 one-time jobs due at one
instant (`--burst once`), or 5,000 every-second schedules that all start at
one instant (`--burst cron`: a cron expression whose seconds field spans the
burst, `40-49 27 12 7 12 *`, so they fire nothing before it or after it).
Printed: B's
lateness (handler start after its instant) in the quiet seconds before the
burst and during it, and A's drain: one-time jobs run per second, or the
share of the cron burst's slots run in the window and their lateness.

    .venv/bin/python bench/fairness.py --burst once
    .venv/bin/python bench/fairness.py --burst cron --burst-seconds 10

Prints one JSON line. Without --dsn it starts its own throwaway Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cronstream.v1 import job_pb2

from bench.harness import create_jobs, log, percentile, platform_key, postgres, scratch_database
from bench.precision import read_runs
from bench.replicas import add_arguments, replicas
from bench.throughput import one_shot_jobs
from bench.workers.launch import workers

A_HANDLER = "noop"  # bench.throughput's: A's one-time jobs
B_HANDLER = "tick"
EVERY_SECOND = "* * * * * *"


def every_second(prefix: str, count: int, handler: str) -> Iterator[job_pb2.Job]:
    for index in range(count):
        yield job_pb2.Job(
            name=f"{prefix}-{index}",
            handler_name=handler,
            cron=job_pb2.CronTrigger(expression=EVERY_SECOND),
        )


def every_second_during(
    prefix: str, count: int, handler: str, start: datetime, seconds: int
) -> Iterator[job_pb2.Job]:
    """Schedules firing every second from `start` (UTC) for `seconds`, within
    one minute: the burst starts at one instant with nothing fired before."""
    expression = burst_expression(start, seconds)
    for index in range(count):
        yield job_pb2.Job(
            name=f"{prefix}-{index}",
            handler_name=handler,
            cron=job_pb2.CronTrigger(expression=expression),
        )


def burst_expression(start: datetime, seconds: int) -> str:
    last = start.second + seconds - 1
    if start.microsecond or last > 59:
        raise ValueError("the burst must start on a whole second and end within its minute")
    return f"{start.second}-{last} {start.minute} {start.hour} {start.day} {start.month} *"


def burst_start(earliest: datetime, seconds: int) -> datetime:
    """The first whole second from `earliest` whose minute holds `seconds` more."""
    start = whole_second(earliest)
    if start.second + seconds > 60:
        start = start.replace(second=0) + timedelta(minutes=1)
    return start


async def a_figures(dsn: str, start: datetime, end: datetime) -> dict[str, float]:
    """A's executions due in [start, end): how many, how many succeeded, the
    last success, and their start lateness."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "select status, completed_at,"
            " extract(epoch from started_at - scheduled_at) * 1000 as ms"
            " from job_executions where handler_name = $1"
            " and scheduled_at >= $2 and scheduled_at < $3",
            A_HANDLER,
            start,
            end,
        )
    finally:
        await connection.close()
    done = [row for row in rows if row["status"] == "success"]
    lateness = sorted(float(row["ms"]) for row in done)
    last = max((row["completed_at"] for row in done), default=start)
    return {
        "fired": len(rows),
        "done": len(done),
        "drain_seconds": (last - start).total_seconds(),
        "p50_ms": percentile(lateness, 0.5),
        "p99_ms": percentile(lateness, 0.99),
    }


async def count_done(dsn: str, handler: str, since: datetime) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval(
                "select count(*) from job_executions where status = 'success'"
                " and handler_name = $1 and scheduled_at >= $2",
                handler,
                since,
            )
        )
    finally:
        await connection.close()


def wait_drained(dsn: str, count: int, since: datetime, deadline: float) -> None:
    while time.monotonic() < deadline:
        if asyncio.run(count_done(dsn, A_HANDLER, since)) >= count:
            return
        time.sleep(0.25)


def b_lateness(
    records: list[Path], start: datetime, end: datetime, schedules: int
) -> dict[str, Any]:
    """B's runs of slots in [start, end): lateness, and slots missed or run twice."""
    start_us, end_us = int(start.timestamp() * 1e6), int(end.timestamp() * 1e6)
    runs = [r for r in read_runs(records) if start_us <= r[1] < end_us]
    lateness = sorted((started - scheduled) / 1000 for _, scheduled, started in runs)
    seconds = round((end_us - start_us) / 1e6)
    fired = len({execution_id for execution_id, _, _ in runs})
    worst: dict[int, float] = {}
    for _, scheduled, started in runs:
        second = (scheduled - start_us) // 1_000_000
        worst[second] = max(worst.get(second, 0.0), (started - scheduled) / 1000)
    return {
        # The latest start of each second's slots, from the window's start.
        "worst_by_second_ms": [round(worst.get(i, -1.0), 1) for i in range(seconds)],
        "seconds": seconds,
        "runs": len(runs),
        "missed": schedules * seconds - fired,
        "doubled": len(runs) - fired,
        "min_ms": round(lateness[0], 1) if lateness else None,
        "p50_ms": round(percentile(lateness, 0.5), 1),
        "p99_ms": round(percentile(lateness, 0.99), 1),
        "max_ms": round(lateness[-1], 1) if lateness else None,
    }


def whole_second(at: datetime) -> datetime:
    return at.replace(microsecond=0) + timedelta(seconds=1)


def run(args: argparse.Namespace) -> dict[str, object]:
    with postgres(args.dsn) as cluster:
        with (
            scratch_database(cluster, "fair", keep=args.keep) as database,
            replicas(database, args) as servers,
            tempfile.TemporaryDirectory() as folder,
        ):
            srv = servers.first
            key_a, key_b = srv.key, platform_key(srv.address, "fair-b")
            targets = servers.targets()
            with (
                workers("go", args.processes, targets, key_a, A_HANDLER, args.slots),
                workers(
                    "go", 1, targets, key_b, B_HANDLER, args.b_slots, Path(folder)
                ) as b_records,
            ):
                count = args.executions if args.burst == "once" else args.schedules
                lead = args.quiet + 10.0 + count / args.load_rate
                if args.burst == "once":
                    burst_at = whole_second(datetime.now(UTC) + timedelta(seconds=lead))
                    jobs = one_shot_jobs(count, burst_at)
                else:
                    earliest = datetime.now(UTC) + timedelta(seconds=lead)
                    burst_at = burst_start(earliest, args.burst_seconds)
                    jobs = every_second_during("a", count, A_HANDLER, burst_at, args.burst_seconds)
                loaded = asyncio.run(create_jobs(srv.address, key_a, jobs))
                log(f"fairness: A's {count} jobs ({args.burst}) in {loaded:.1f}s")
                asyncio.run(
                    create_jobs(srv.address, key_b, every_second("b", args.b_schedules, B_HANDLER))
                )
                quiet_from = burst_at - timedelta(seconds=args.quiet)
                if datetime.now(UTC) >= quiet_from:
                    raise RuntimeError(
                        "loading took longer than the lead; raise --load-rate's guess"
                    )
                if args.burst == "once":
                    wait = (burst_at - datetime.now(UTC)).total_seconds() + args.timeout
                    wait_drained(database.dsn, count, burst_at, time.monotonic() + wait)
                    burst_end = whole_second(datetime.now(UTC))
                else:
                    burst_end = burst_at + timedelta(seconds=args.burst_seconds)
                time.sleep(max(0.0, (burst_end - datetime.now(UTC)).total_seconds()) + args.drain)
            a = asyncio.run(a_figures(database.dsn, burst_at, burst_end))
            quiet = b_lateness(b_records, quiet_from, burst_at, args.b_schedules)
            during = b_lateness(b_records, burst_at, burst_end, args.b_schedules)
    result: dict[str, object] = {
        "system": "cronstream",
        "workload": f"fairness-{args.burst}",
        "b_schedules": args.b_schedules,
        "b_quiet": quiet,
        "b_burst": during,
        "b_p99_ratio": round(during["p99_ms"] / max(quiet["p99_ms"], 0.1), 1),
    }
    if args.burst == "once":
        result["a_jobs"] = count
        result["a_done"] = a["done"]
        result["a_per_second"] = (
            round(a["done"] / a["drain_seconds"], 1) if a["drain_seconds"] else None
        )
    else:
        expected = count * args.burst_seconds
        result["a_schedules"] = count
        result["a_expected"] = expected
        result["a_done_in_window"] = a["done"]
        result["a_p50_ms"] = round(a["p50_ms"], 1)
        result["a_p99_ms"] = round(a["p99_ms"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="an existing Postgres (postgresql://...); default: throwaway")
    parser.add_argument("--burst", choices=("once", "cron"), default="once")
    parser.add_argument("--executions", type=int, default=20_000, help="A's one-time jobs")
    parser.add_argument("--schedules", type=int, default=5_000, help="A's every-second schedules")
    parser.add_argument("--burst-seconds", type=int, default=10, help="the cron burst's length")
    parser.add_argument("--b-schedules", type=int, default=20)
    parser.add_argument("--quiet", type=int, default=8, help="seconds of B measured before")
    parser.add_argument("--processes", type=int, default=2, help="A's worker processes")
    parser.add_argument("--slots", type=int, default=1000, help="per A worker process")
    parser.add_argument("--b-slots", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--drain", type=float, default=2.0)
    parser.add_argument(
        "--load-rate", type=float, default=2000.0, help="jobs/s the load is assumed to reach"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database for a look after")
    add_arguments(parser)
    print(json.dumps(run(parser.parse_args())), flush=True)


if __name__ == "__main__":
    main()
