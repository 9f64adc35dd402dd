"""W2 beside the dashboard: live firing lateness (as bench/precision.py measures
it) in windows without, then with, another process making 1,000 page loads on
the HTTP port (GET /, the assets index.html names, /config.json, and the Jobs
page's gRPC-web calls, ListJobs then GetRecentRuns of its jobs), 50 at a time,
the loader niced (--nice) so that it stands for browsers on other machines;
windows alternated, printed side by side with the ratio of their p99, and the
page loads' latency. Each window also counts the checkpoints Postgres began in
it, since one makes W2 late with or without the dashboard.

    .venv/bin/python bench/dashboard_load.py --schedules 1000 --rounds 2

Prints one JSON line. Without --dsn it starts its own throwaway Postgres.
The loader alone: bench/dashboard_load.py --load http://127.0.0.1:8080 KEY
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cronstream.v1 import scheduler_service_pb2 as pb

from bench.backfill import _lateness, _sleep_until, _window
from bench.harness import (
    create_jobs,
    free_port,
    libpq_dsn,
    log,
    percentile,
    postgres,
    scratch_database,
    server,
)
from bench.precision import HANDLER, every_second, read_runs
from bench.workers.launch import workers

SCHEDULER = "/cronstream.v1.SchedulerService/"
ASSET = re.compile(r"""(?:src|href)="(/[^"]+)\"""")


def _frame(message: bytes) -> bytes:
    return struct.pack(">BI", 0, len(message)) + message


def _trailers_ok(reply: httpx.Response) -> bool:
    return reply.status_code == 200 and reply.content.endswith(b"grpc-status: 0\r\n")


def _message(reply: httpx.Response) -> bytes:
    """The first data frame's message of a gRPC-web reply."""
    (length,) = struct.unpack(">I", reply.content[1:5])
    return reply.content[5 : 5 + length]


async def _calls(client: httpx.AsyncClient, key: str, calls: list[str]) -> bool:
    """The gRPC-web calls of a page, in the dashboard's order: the Jobs page
    lists a page of jobs, then asks for those jobs' recent runs."""
    headers = {"content-type": "application/grpc-web+proto", "authorization": f"Bearer {key}"}
    job_ids: list[str] = []
    ok = True
    for name in calls:
        request: Any
        if name == "ListJobs":
            request = pb.ListJobsRequest(page_size=50)
        elif name == "GetRecentRuns":
            request = pb.GetRecentRunsRequest(job_ids=job_ids or ["-"], limit=20)
        else:
            request = pb.GetMetricsRequest()
        body = _frame(request.SerializeToString())
        reply = await client.post(SCHEDULER + name, content=body, headers=headers)
        ok = ok and _trailers_ok(reply)
        if name == "ListJobs" and ok:
            job_ids = [job.id for job in pb.ListJobsResponse.FromString(_message(reply)).jobs]
    return ok


async def _page(client: httpx.AsyncClient, key: str, calls: list[str]) -> tuple[float, bool]:
    """One page load as the dashboard makes it; (seconds, every answer right)."""
    began = time.perf_counter()
    index = await client.get("/")
    assets = ASSET.findall(index.text) if index.status_code == 200 else []
    answers = await asyncio.gather(
        *(client.get(path) for path in assets), client.get("/config.json")
    )
    called = await _calls(client, key, calls)
    ok = index.status_code == 200 and all(r.status_code == 200 for r in answers) and called
    return time.perf_counter() - began, ok


async def load(
    base_url: str, key: str, pages: int, concurrency: int, calls: list[str]
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        index = await client.get("/")
        todo = iter(range(pages))
        times: list[float] = []
        failed = 0

        async def browser() -> None:
            nonlocal failed
            for _ in todo:
                seconds, ok = await _page(client, key, calls)
                times.append(seconds)
                failed += not ok

        began = time.monotonic()
        await asyncio.gather(*(browser() for _ in range(concurrency)))
        wall = time.monotonic() - began
    times.sort()
    return {
        "pages": pages,
        "concurrency": concurrency,
        "calls": calls,
        "index_status": index.status_code,
        "assets_per_page": len(ASSET.findall(index.text)) if index.status_code == 200 else 0,
        "failed": failed,
        "seconds": round(wall, 2),
        "p50_ms": round(percentile(times, 0.5) * 1000, 1),
        "p99_ms": round(percentile(times, 0.99) * 1000, 1),
    }


def _loaded_window(
    base_url: str, key: str, args: argparse.Namespace
) -> tuple[tuple[int, int], dict[str, Any]]:
    """A window that lasts as long as the loader process runs."""
    start, _ = _window(1)
    _sleep_until(start)
    command = ["nice", "-n", str(args.nice), sys.executable, __file__, "--load", base_url, key]
    command += ["--pages", str(args.pages)]
    command += ["--calls", args.calls]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    end = int(time.time() * 1_000_000)
    return (start, end), json.loads(done.stdout.splitlines()[-1])


def _checkpoints(dsn: str) -> int:
    """Checkpoints the cluster has begun so far. A checkpoint makes the next
    write of each page log the whole page, and W2 late with it, dashboard or
    not: a window that holds one is marked as such (1,000 firings a second
    write about 500 MB of WAL in 3-4 minutes, a checkpoint at the stock size)."""
    newer = _psql(dsn, "select to_regclass('pg_catalog.pg_stat_checkpointer') is not null")
    if newer == "t":  # PostgreSQL 17 moved the counts
        return int(_psql(dsn, "select num_timed + num_requested from pg_stat_checkpointer"))
    return int(_psql(dsn, "select checkpoints_timed + checkpoints_req from pg_stat_bgwriter"))


def _psql(dsn: str, query: str) -> str:
    command = ["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", libpq_dsn(dsn) or dsn, "-c", query]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def run(args: argparse.Namespace) -> dict[str, Any]:
    http = f"127.0.0.1:{free_port()}"
    rounds: list[dict[str, Any]] = []
    with postgres(args.dsn) as cluster:
        with (
            scratch_database(cluster, "w2web", keep=False) as database,
            server(database, env={"CRONSTREAM_HTTP_LISTEN": http}) as srv,
            tempfile.TemporaryDirectory() as folder,
        ):
            with workers(
                args.worker, args.processes, srv.address, srv.key, HANDLER, args.slots, Path(folder)
            ) as records:
                asyncio.run(create_jobs(srv.address, srv.key, every_second(args.schedules)))
                _sleep_until(_window(args.warmup)[1])  # past the first fires' start-up
                windows = []
                for number in range(args.rounds):
                    quiet = _window(args.seconds)
                    log(f"w2 dashboard: round {number + 1}, window without, {args.seconds}s")
                    began = _checkpoints(database.dsn)
                    _sleep_until(quiet[1])
                    between = _checkpoints(database.dsn)
                    log(f"w2 dashboard: round {number + 1}, window with {args.pages} page loads")
                    busy, page_loads = _loaded_window(f"http://{http}", srv.key, args)
                    checkpoints = (between - began, _checkpoints(database.dsn) - between)
                    windows.append((quiet, busy, page_loads, checkpoints))
                _sleep_until(0, args.drain)
            runs = read_runs(records)
    for quiet, busy, page_loads, checkpoints in windows:
        # The instants in [start, end): a loaded window ends off a whole second.
        expected = [args.schedules * -((start - end) // 1_000_000) for start, end in (quiet, busy)]
        without, during = _lateness(runs, quiet, expected[0]), _lateness(runs, busy, expected[1])
        ratio = during["p99_ms"] / without["p99_ms"] if without["p99_ms"] else None
        rounds.append(
            {
                "without": without,
                "with_page_loads": during,
                "p99_ratio": round(ratio, 2) if ratio else None,
                "page_loads": page_loads,
                "checkpoints_without_and_with": checkpoints,
            }
        )
        log(f"w2 dashboard: p99 {without['p99_ms']} ms without, {during['p99_ms']} ms with")
    return {
        "system": "cronstream",
        "workload": "w2 beside 1,000 dashboard page loads",
        "worker": args.worker,
        "schedules": args.schedules,
        "calls": args.calls,
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", nargs=2, metavar=("URL", "KEY"), help="only load the port")
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--calls",
        default="ListJobs,GetRecentRuns",
        help="the gRPC-web calls of a page load, in order (the Jobs page's by default)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=19,
        help="the loader's niceness: its CPU stands for browsers on other machines, so it "
        "takes what the server leaves (0: it competes for the two cores as an equal)",
    )
    parser.add_argument("--dsn", help="an existing Postgres (postgresql://...); default: throwaway")
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=15, help="each window without")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--worker", choices=("python", "go"), default="go")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--slots", type=int, default=500)
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to finish after it")
    args = parser.parse_args()
    if args.load:
        url, key = args.load
        calls = args.calls.split(",")
        result = asyncio.run(load(url, key, args.pages, args.concurrency, calls))
    else:
        result = run(args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
