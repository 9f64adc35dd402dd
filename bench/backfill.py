"""W2 beside a backfill: live firing lateness (as bench/precision.py measures
it) over a window without a backfill, then over a window during which one
BackfillJob call creates 100,000 executions of a job of the same handler,
released to the same workers at CRONSTREAM_BACKFILL_RATE; the two side by
side, with the ratio of their p99.

    .venv/bin/python bench/backfill.py --schedules 200 --seconds 10

Prints one JSON line. Without --dsn it starts its own throwaway Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cronstream.v1 import job_pb2, scheduler_service_pb2_grpc
from cronstream.v1 import scheduler_service_pb2 as pb
from google.protobuf import timestamp_pb2

from bench.harness import create_jobs, log, percentile, postgres, scratch_database, server
from bench.precision import HANDLER, every_second, read_runs
from bench.workers.launch import workers

INSTANTS = 100_000
# The backfilled range ends this long ago: far from both windows' instants,
# so a run is told live or backfilled by its scheduled instant alone.
AGO = timedelta(days=3)


@dataclass
class Backfill:
    """The call, run in a thread while the second window goes on."""

    address: str
    key: str
    start: datetime
    outcome: dict[str, Any] = field(default_factory=dict)

    def run(self, job_id: str) -> None:
        began = time.monotonic()
        auth = (("authorization", f"Bearer {self.key}"),)
        with grpc.insecure_channel(self.address) as channel:
            stub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
            request = pb.BackfillJobRequest(
                id=job_id,
                start_time=_ts(self.start),
                end_time=_ts(self.start + timedelta(seconds=INSTANTS)),
            )
            done = stub.BackfillJob(request, metadata=auth, timeout=600)
        self.outcome = {
            "created": done.created,
            "call_seconds": round(time.monotonic() - began, 2),
        }


def _ts(value: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def _paused_job(address: str, key: str, handler: str) -> str:
    """The job to backfill: every second, paused so that it fires nothing live."""
    auth = (("authorization", f"Bearer {key}"),)
    with grpc.insecure_channel(address) as channel:
        stub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        trigger = job_pb2.CronTrigger(expression="* * * * * *")
        job = job_pb2.Job(name="backfilled", handler_name=handler, cron=trigger)
        created = stub.CreateJob(pb.CreateJobRequest(job=job), metadata=auth).job
        stub.PauseJob(pb.PauseJobRequest(id=created.id), metadata=auth)
    return created.id


def _window(seconds: int) -> tuple[int, int]:
    """The next window, starting on a whole second, in microseconds."""
    start = math.ceil(time.time()) + 2
    return start * 1_000_000, (start + seconds) * 1_000_000


def _sleep_until(us: int, drain: float = 0.0) -> None:
    time.sleep(max(0.0, us / 1e6 - time.time()) + drain)


def _lateness(
    runs: list[tuple[str, int, int]], window: tuple[int, int], expected: int
) -> dict[str, Any]:
    start, end = window
    inside = [r for r in runs if start <= r[1] < end]
    lateness = sorted((started - scheduled) / 1000 for _, scheduled, started in inside)
    fired = len({execution_id for execution_id, _, _ in inside})
    return {
        "fired": fired,
        "missed": expected - fired,
        "p50_ms": round(percentile(lateness, 0.5), 1),
        "p95_ms": round(percentile(lateness, 0.95), 1),
        "p99_ms": round(percentile(lateness, 0.99), 1),
        "max_ms": round(lateness[-1], 1) if lateness else None,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    env = {"CRONSTREAM_BACKFILL_RATE": str(args.rate)} if args.rate else None
    with postgres(args.dsn) as cluster:
        with (
            scratch_database(cluster, "w2bf", keep=False) as database,
            server(database, env=env) as srv,
            tempfile.TemporaryDirectory() as folder,
        ):
            with workers(
                args.worker, args.processes, srv.address, srv.key, HANDLER, args.slots, Path(folder)
            ) as records:
                asyncio.run(create_jobs(srv.address, srv.key, every_second(args.schedules)))
                job_id = _paused_job(srv.address, srv.key, args.backfill_handler)
                quiet = _window(args.seconds)
                log(f"w2 backfill: window without, {args.seconds}s")
                _sleep_until(quiet[1])
                busy = _window(args.seconds)
                origin = datetime.now(UTC).replace(microsecond=0) - AGO
                backfill = Backfill(srv.address, srv.key, origin)
                caller = threading.Thread(target=backfill.run, args=(job_id,))
                _sleep_until(busy[0])
                log(f"w2 backfill: window with a {INSTANTS:,}-instant backfill, {args.seconds}s")
                caller.start()
                _sleep_until(busy[1], args.drain)
                caller.join()
            runs = read_runs(records)
    expected = args.schedules * args.seconds
    without, during = _lateness(runs, quiet, expected), _lateness(runs, busy, expected)
    backfilled_us = int(origin.timestamp() * 1e6), int(origin.timestamp() + INSTANTS) * 1_000_000
    ran = [r for r in runs if backfilled_us[0] <= r[1] < backfilled_us[1] and r[2] < busy[1]]
    ratio = during["p99_ms"] / without["p99_ms"] if without["p99_ms"] else None
    log(
        f"w2 backfill: p99 {without['p99_ms']} ms without, {during['p99_ms']} ms with"
        f" ({ratio:.2f}x); backfill {backfill.outcome}, {len(ran)} backfilled runs in the window"
        if ratio
        else "w2 backfill: no figures"
    )
    return {
        "system": "cronstream",
        "workload": "w2 beside a backfill",
        "worker": args.worker,
        "schedules": args.schedules,
        "seconds": args.seconds,
        "rate": args.rate or "default",
        "backfill_handler": args.backfill_handler,
        "without": without,
        "with_backfill": during,
        "p99_ratio": round(ratio, 2) if ratio else None,
        "backfill": {**backfill.outcome, "instants": INSTANTS, "run_in_window": len(ran)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="an existing Postgres (postgresql://...); default: throwaway")
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--worker", choices=("python", "go"), default="go")
    parser.add_argument(
        "--rate", type=float, help="CRONSTREAM_BACKFILL_RATE; default: the server's"
    )
    parser.add_argument(
        "--backfill-handler",
        default=HANDLER,
        help="the backfilled job's handler; one no worker serves measures creating alone",
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--slots", type=int, default=500)
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to finish after it")
    print(json.dumps(run(parser.parse_args())), flush=True)


if __name__ == "__main__":
    main()
