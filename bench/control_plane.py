"""Control plane: CreateJob calls/s at 32 concurrent clients with p50/p99
latency; then the same number of jobs through BatchCreateJobs, as jobs/s.

    .venv/bin/python bench/control_plane.py --dsn postgresql+asyncpg://... --clients 32 --calls 5000

Each client has a channel of its own (its own HTTP/2 connection), as separate
services calling Cronstream would. The jobs are daily cron jobs at random
times (`M H * * *`), so the ticker fires only a trickle of them meanwhile.
Prints one JSON line on stdout; logs go to stderr. Bounded by --time-limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cronstream.v1 import (
    job_pb2,
    scheduler_service_pb2_grpc,
)
from cronstream.v1 import scheduler_service_pb2 as pb

from bench.harness import Postgres, Server, log, measured, percentile, profiled

HANDLER = "bench"
CALL_TIMEOUT = 60.0  # seconds; a call slower than this is a failure, not a sample

Auth = tuple[tuple[str, str], ...]


def daily_cron_job(name: str, rng: random.Random) -> job_pb2.Job:
    """A job firing once a day at a random minute: 1/1440 of them are due in
    any minute, a small, steady share for the ticker."""
    expression = f"{rng.randrange(60)} {rng.randrange(24)} * * *"
    return job_pb2.Job(
        name=name, handler_name=HANDLER, cron=job_pb2.CronTrigger(expression=expression)
    )


def batch_request(
    first: int, count: int, prefix: str, rng: random.Random
) -> pb.BatchCreateJobsRequest:
    return pb.BatchCreateJobsRequest(
        requests=[
            pb.CreateJobRequest(job=daily_cron_job(f"{prefix}-{i}", rng))
            for i in range(first, first + count)
        ]
    )


def auth_of(key: str) -> Auth:
    return (("authorization", f"Bearer {key}"),)


@dataclass
class Timed:
    """Latencies of the calls of one phase, and its wall time."""

    seconds: float
    latencies: list[float]

    def ms(self, fraction: float) -> float:
        return round(1000 * percentile(sorted(self.latencies), fraction), 2)


async def timed_calls(
    channels: list[grpc.aio.Channel], count: int, call: Callable[[Any, int], Awaitable[Any]]
) -> Timed:
    """`count` calls numbered 0..count-1, as many at once as there are channels
    (each channel makes its calls one after the other)."""
    numbers = iter(range(count))
    latencies: list[float] = []

    async def client(channel: grpc.aio.Channel) -> None:
        stub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        for number in numbers:
            started = time.perf_counter()
            await call(stub, number)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client(channel) for channel in channels))
    return Timed(time.perf_counter() - started, latencies)


@contextlib.asynccontextmanager
async def open_channels(address: str, count: int) -> AsyncIterator[list[grpc.aio.Channel]]:
    channels = [grpc.aio.insecure_channel(address) for _ in range(count)]
    try:
        yield channels
    finally:
        for channel in channels:
            await channel.close()


async def create_job_phase(address: str, auth: Auth, clients: int, calls: int) -> dict[str, Any]:
    rng = random.Random(1)
    jobs = [daily_cron_job(f"cp-{i}", rng) for i in range(calls + clients)]

    async def create(stub: Any, number: int) -> None:
        request = pb.CreateJobRequest(job=jobs[number])
        await stub.CreateJob(request, metadata=auth, timeout=CALL_TIMEOUT)

    async with open_channels(address, clients) as channels:
        # One call per client first: connection set-up is not a CreateJob's cost.
        await timed_calls(channels, clients, lambda stub, n: create(stub, calls + n))
        run = await timed_calls(channels, calls, create)
    return {
        "calls": calls,
        "clients": clients,
        "channels": "one per client",
        "seconds": round(run.seconds, 3),
        "per_second": round(calls / run.seconds, 1),
        "p50_ms": run.ms(0.50),
        "p99_ms": run.ms(0.99),
    }


async def batch_phase(
    address: str, auth: Auth, jobs: int, batch: int, concurrency: int
) -> dict[str, Any]:
    rng = random.Random(2)
    requests = [
        batch_request(first, min(batch, jobs - first), "cpb", rng)
        for first in range(0, jobs, batch)
    ]

    async def create(stub: Any, number: int) -> None:
        response = await stub.BatchCreateJobs(requests[number], metadata=auth, timeout=CALL_TIMEOUT)
        assert len(response.jobs) == len(requests[number].requests)

    async with open_channels(address, concurrency) as channels:
        run = await timed_calls(channels, len(requests), create)
    return {
        "jobs": jobs,
        "batch": batch,
        "concurrent_batches": concurrency,
        "seconds": round(run.seconds, 3),
        "per_second": round(jobs / run.seconds, 1),
        "p50_ms_per_batch": run.ms(0.50),
        "p99_ms_per_batch": run.ms(0.99),
    }


async def measure(
    args: argparse.Namespace, pid: int, address: str, key: str, result: dict[str, Any]
) -> None:
    auth = auth_of(key)
    async with asyncio.timeout(args.time_limit):
        log(f"control plane: {args.calls} CreateJob calls from {args.clients} clients")
        with profiled(pid, args.profile and args.profile.with_stem(args.profile.stem + "-create")):
            result["create_job"] = await create_job_phase(address, auth, args.clients, args.calls)
        log(f"control plane: create_job {result['create_job']}")
        log(f"control plane: {args.calls} jobs in batches of {args.batch}")
        with profiled(pid, args.profile and args.profile.with_stem(args.profile.stem + "-batch")):
            result["batch_create"] = await batch_phase(
                address, auth, args.calls, args.batch, args.concurrent_batches
            )
        log(f"control plane: batch_create {result['batch_create']}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"workload": "control-plane"}

    def body(database: Postgres, srv: Server) -> None:
        asyncio.run(measure(args, srv.pid, srv.address, srv.key, result))
        result["server_rss_mib"] = round(srv.rss_mib(), 1)

    return measured(result, args.dsn, "cp", body, keep=args.keep_database)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--dsn", help="a running Postgres (postgresql+asyncpg://...); default: throwaway"
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrent-batches", type=int, default=4)
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument(
        "--profile", type=Path, help="py-spy profiles of the server: NAME-create, NAME-batch"
    )
    result = run(parser.parse_args())
    print(json.dumps(result), flush=True)
    sys.exit(1 if "error" in result else 0)


if __name__ == "__main__":
    main()
