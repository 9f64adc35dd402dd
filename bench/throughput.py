"""W1, throughput: N one-shot no-op executions due at one instant, run by
workers over WorkerService; executions/s from the due instant to the last
result recorded.

    .venv/bin/python bench/throughput.py --executions 20000 --worker go
    .venv/bin/python bench/throughput.py --executions 20000 --worker go --servers 2

Prints one JSON line. Without --dsn it starts its own throwaway Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from google.protobuf import timestamp_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cronstream.v1 import job_pb2

from bench import procfs
from bench.cluster_cost import SNAPSHOT_TRANSACTIONS, snapshot
from bench.harness import create_jobs, log, percentile, postgres, profiled, scratch_database
from bench.replicas import Replicas, Usage, add_arguments, figures, replicas, spread, usage
from bench.workers.launch import workers

HANDLER = "noop"
BUSY_LEAD_SECONDS = 1.0  # fired ahead by 0.5 s by default


def one_shot_jobs(
    count: int, run_at: datetime, keys: int = 0, limit: int = 0
) -> Iterator[job_pb2.Job]:
    """`keys` > 0: the keyed variant, each job carrying one of `keys`
    concurrency keys (round robin) with `limit` places each."""
    due = timestamp_pb2.Timestamp()
    due.FromDatetime(run_at)
    for index in range(count):
        job = job_pb2.Job(
            name=f"w1-{index}", handler_name=HANDLER, once=job_pb2.OnceTrigger(run_at=due)
        )
        if keys:
            job.concurrency.key = f"w1-key-{index % keys}"
            job.concurrency.limit = limit
        yield job


async def wait_finished(dsn: str, count: int, deadline: float) -> tuple[int, int]:
    """The executions finished by `deadline` (or all `count`), and how many
    polls it took: each is a transaction the server did not make."""
    connection = await asyncpg.connect(dsn)
    try:
        done, polls = 0, 0
        while time.monotonic() < deadline:
            done = await connection.fetchval(
                "select count(*) from job_executions where status = 'success'"
            )
            polls += 1
            if done >= count:
                break
            await asyncio.sleep(0.25)
        return int(done), polls
    finally:
        await connection.close()


async def timings(dsn: str) -> dict[str, float]:
    connection = await asyncpg.connect(dsn)
    try:
        first_due = await connection.fetchval("select min(scheduled_at) from job_executions")
        last_done = await connection.fetchval(
            "select max(completed_at) from job_executions where status = 'success'"
        )
        last_fired = await connection.fetchval("select max(created_at) from job_executions")
        lags = await connection.fetch(
            "select extract(epoch from started_at - scheduled_at) * 1000 as ms"
            " from job_executions where status = 'success' order by 1"
        )
    finally:
        await connection.close()
    starts = [float(row["ms"]) for row in lags]
    return {
        "seconds": (last_done - first_due).total_seconds(),
        "fired_seconds": (last_fired - first_due).total_seconds(),
        "start_p50_ms": percentile(starts, 0.5),
        "start_p99_ms": percentile(starts, 0.99),
    }


async def postmaster(dsn: str) -> int:
    """The pid of the cluster's postmaster (the parent of our backend): its
    process tree is Postgres's CPU, when the cluster runs on this machine."""
    connection = await asyncpg.connect(dsn)
    try:
        return procfs.parent(int(await connection.fetchval("select pg_backend_pid()")))
    finally:
        await connection.close()


def _busy_mark(run_at: datetime, servers: Replicas, postgres_pid: int) -> Usage:
    """CPU used so far, taken 1 s before the due instant: from there to the
    last result the machine does W1's work, not the idle wait of the lead
    (whose cost, per process, would count against more processes)."""
    time.sleep(max(0.0, (run_at - datetime.now(UTC)).total_seconds() - BUSY_LEAD_SECONDS))
    return usage(servers, postgres_pid)


def run(args: argparse.Namespace) -> dict[str, object]:
    with postgres(args.dsn) as cluster:
        with (
            scratch_database(cluster, "w1", keep=False) as database,
            replicas(database, args, metrics=args.metrics) as servers,
        ):
            srv = servers.first
            # Due far enough ahead for the load to finish first.
            lead = 10.0 + args.executions / args.load_rate
            run_at = datetime.now(UTC) + timedelta(seconds=lead)
            jobs = one_shot_jobs(args.executions, run_at, args.keys, args.key_limit)
            load_seconds = asyncio.run(create_jobs(srv.address, srv.key, jobs))
            log(f"w1: created {args.executions} jobs in {load_seconds:.1f}s")
            if datetime.now(UTC) >= run_at:
                raise RuntimeError("loading took longer than the lead; raise the lead")
            postgres_pid = asyncio.run(postmaster(database.dsn))
            before, targets = usage(servers, postgres_pid), servers.targets()
            cost_before = asyncio.run(snapshot(database.dsn))
            with (
                profiled(srv.pid, args.profile),
                workers(args.worker, args.processes, targets, srv.key, HANDLER, args.slots),
            ):
                streams = spread(database.dsn, servers, args.processes)
                busy = _busy_mark(run_at, servers, postgres_pid)
                cost_busy = asyncio.run(snapshot(database.dsn))
                wait = (run_at - datetime.now(UTC)).total_seconds() + args.timeout
                done, polls = asyncio.run(
                    wait_finished(database.dsn, args.executions, time.monotonic() + wait)
                )
                after = usage(servers, postgres_pid)  # the workers still alive
            cost_after = asyncio.run(snapshot(database.dsn))
            measured = asyncio.run(timings(database.dsn))
    seconds = measured["seconds"]
    return {
        "system": "cronstream",
        "workload": "w1",
        "worker": args.worker,
        "metrics": args.metrics,
        "keys": args.keys,
        "key_limit": args.key_limit,
        "processes": args.processes,
        "slots": args.slots,
        "jobs": args.executions,
        "completed": done,
        "load_seconds": round(load_seconds, 2),
        "seconds": round(seconds, 3),
        "per_second": round(done / seconds, 1) if seconds > 0 else None,
        "all_fired_after_s": round(measured["fired_seconds"], 3),
        # The harness's own transactions (its polls, the snapshots) left out.
        **cost_after.minus(cost_before, polls + 2 * SNAPSHOT_TRANSACTIONS).per_1000(done),
        "busy_transactions_per_1000": cost_after.minus(
            cost_busy, polls + SNAPSHOT_TRANSACTIONS
        ).per_1000(done)["transactions_per_1000"],
        "start_p50_ms": round(measured["start_p50_ms"], 1),
        "start_p99_ms": round(measured["start_p99_ms"], 1),
        **figures(servers, (after - before).servers, done, streams),
        # From the load's end, as server_cpu_ms_per_1000; "busy" from 1 s before due.
        "cpu_ms_per_1000": (after - before).per_1000(done),
        "busy_cpu_ms_per_1000": (after - busy).per_1000(done),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="an existing Postgres (postgresql://...); default: throwaway")
    parser.add_argument("--executions", type=int, default=20_000)
    parser.add_argument("--worker", choices=("python", "go"), default="go")
    parser.add_argument(
        "--metrics", action="store_true", help="serve metrics, scraped every second"
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--slots", type=int, default=1000, help="per worker process")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--profile", type=Path, help="write a py-spy profile of the server here")
    parser.add_argument(
        "--load-rate", type=float, default=2000.0, help="jobs/s the load is assumed to reach"
    )
    parser.add_argument(
        "--keys",
        type=int,
        default=0,
        help="the keyed variant: spread the jobs over this many concurrency keys",
    )
    parser.add_argument("--key-limit", type=int, default=50, help="places per concurrency key")
    add_arguments(parser)
    print(json.dumps(run(parser.parse_args())), flush=True)


if __name__ == "__main__":
    main()
