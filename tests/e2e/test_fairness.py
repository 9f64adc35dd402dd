"""Fairness between platforms, end to end on Postgres: platform B's
every-second schedules stay on time while platform A's 20,000 one-time jobs,
due at one instant, or 5,000 every-second schedules starting at one instant,
are fired and run (docs/scheduling.md, "Fairness between platforms"). Real
processes: one `cronstream serve`, Go workers of the benchmark's
(clients/go/examples/benchworker) for each platform."""

from __future__ import annotations

import asyncio
import math
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
import pytest
from cronstream.v1 import job_pb2, scheduler_service_pb2_grpc
from cronstream.v1 import scheduler_service_pb2 as pb

from tests.e2e.cluster import platform_key, postgres_cluster, start_replica
from tests.jobs import ts

pytestmark = pytest.mark.skipif(
    subprocess.run(["which", "go"], capture_output=True).returncode != 0, reason="needs Go"
)

GO_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "go"
BURST = 20_000
# Every-second schedules of A's starting at one instant, for CRON_SECONDS.
CRON_BURST = 5_000
CRON_SECONDS = 6
B_SCHEDULES = 20
QUIET_SECONDS = 6
# The mark on a 2-core machine; B's quiet p99 is 2-4 ms there and
# its p99 during the burst 5-12 ms (bench/fairness.py, docs/benchmarks.md).
BURST_P99_MS = 100.0


def test_a_burst_of_one_platform_leaves_another_platform_s_schedules_on_time(
    tmp_path: Path,
) -> None:
    def burst(address: str, key_a: str, dsn: str) -> tuple[datetime, datetime]:
        burst_at = datetime.fromtimestamp(math.ceil(time.time()) + 20, UTC)
        create(address, key_a, [once(f"a-{i}", burst_at) for i in range(BURST)])
        assert datetime.now(UTC) < burst_at - timedelta(seconds=QUIET_SECONDS), "slow load"
        drained_at = wait_drained(dsn, BURST, burst_at + timedelta(seconds=90))
        seconds = max(2, math.ceil((drained_at - burst_at).total_seconds()))
        return burst_at, burst_at + timedelta(seconds=seconds)

    b_stays_on_time(tmp_path, burst)


def test_a_cron_burst_of_one_platform_leaves_another_platform_s_schedules_on_time(
    tmp_path: Path,
) -> None:
    """A's 5,000 every-second schedules start at one instant: 5,000 slots a
    second, more than this machine runs, so A falls behind by its own work;
    B's stay on time, and every slot of A's still runs once."""

    def burst(address: str, key_a: str, dsn: str) -> tuple[datetime, datetime]:
        burst_at = burst_start(datetime.now(UTC) + timedelta(seconds=15), CRON_SECONDS)
        expression = seconds_of(burst_at, CRON_SECONDS)
        create(address, key_a, [cron(f"a-{i}", expression) for i in range(CRON_BURST)])
        assert datetime.now(UTC) < burst_at - timedelta(seconds=QUIET_SECONDS), "slow load"
        slots = CRON_BURST * CRON_SECONDS
        wait_drained(dsn, slots, burst_at + timedelta(seconds=120))
        return burst_at, burst_at + timedelta(seconds=CRON_SECONDS)

    b_stays_on_time(tmp_path, burst)


def b_stays_on_time(
    tmp_path: Path, burst: Callable[[str, str, str], tuple[datetime, datetime]]
) -> None:
    """B's every-second schedules, run by B's worker, while `burst` makes
    A's and waits until they ran (returning the burst's window): every slot
    of B's runs once, none early, and B's p99 during the window stays under
    the issue's mark."""
    worker = tmp_path / "benchworker"
    subprocess.run(
        ["go", "build", "-o", str(worker), "./examples/benchworker"], cwd=GO_CLIENT, check=True
    )
    with postgres_cluster(tmp_path) as cluster:
        replica = start_replica(cluster, tmp_path)
        address = replica.address
        key_a, key_b = platform_key(address, "bursting"), platform_key(address, "steady")
        record = tmp_path / "b-runs.txt"
        with (
            workers(worker, address, key_a, "noop", 1000, count=2),
            workers(worker, address, key_b, "tick", 100, record=record),
        ):
            create(
                address, key_b, [cron(f"b-{i}", "* * * * * *", "tick") for i in range(B_SCHEDULES)]
            )
            burst_at, burst_end = burst(address, key_a, cluster.dsn)
        runs = read_runs(record)  # written when B's worker stopped

    quiet = lateness(runs, burst_at - timedelta(seconds=QUIET_SECONDS), burst_at)
    during = lateness(runs, burst_at, burst_end)
    seconds_during = round((burst_end - burst_at).total_seconds())
    # Every slot of B's ran once, none before its instant.
    assert len(quiet) == B_SCHEDULES * QUIET_SECONDS
    assert len(during) == B_SCHEDULES * seconds_during
    assert min(quiet + during) >= 0.0
    p99_quiet, p99_during = percentile(quiet, 0.99), percentile(during, 0.99)
    print(f"B's p99: quiet {p99_quiet:.1f} ms, during A's burst {p99_during:.1f} ms")
    assert p99_during < BURST_P99_MS, (p99_quiet, p99_during)


def burst_start(earliest: datetime, seconds: int) -> datetime:
    """The first whole second from `earliest` whose minute holds `seconds` more."""
    start = earliest.replace(microsecond=0) + timedelta(seconds=1)
    if start.second + seconds > 60:
        start = start.replace(second=0) + timedelta(minutes=1)
    return start


def seconds_of(start: datetime, seconds: int) -> str:
    """Every second from `start` (UTC) for `seconds`, within its minute."""
    last = start.second + seconds - 1
    return f"{start.second}-{last} {start.minute} {start.hour} {start.day} {start.month} *"


def cron(name: str, expression: str, handler: str = "noop") -> job_pb2.Job:
    return job_pb2.Job(
        name=name, handler_name=handler, cron=job_pb2.CronTrigger(expression=expression)
    )


def once(name: str, at: datetime) -> job_pb2.Job:
    return job_pb2.Job(name=name, handler_name="noop", once=job_pb2.OnceTrigger(run_at=ts(at)))


def create(address: str, key: str, jobs: list[job_pb2.Job]) -> None:
    auth = (("authorization", f"Bearer {key}"),)
    with grpc.insecure_channel(address) as channel:
        stub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        for start in range(0, len(jobs), 1000):
            chunk = [pb.CreateJobRequest(job=job) for job in jobs[start : start + 1000]]
            stub.BatchCreateJobs(pb.BatchCreateJobsRequest(requests=chunk), metadata=auth)


@contextmanager
def workers(
    binary: Path,
    address: str,
    key: str,
    handler: str,
    slots: int,
    count: int = 1,
    record: Path | None = None,
) -> Iterator[None]:
    """Go worker processes; `record` gets each run's "id scheduled_us
    started_us" when the (single) worker stops."""
    extra = [str(record)] if record else []
    processes = [
        subprocess.Popen(
            [str(binary), address, key, handler, str(slots), *extra], stderr=subprocess.DEVNULL
        )
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_drained(dsn: str, count: int, deadline: datetime) -> datetime:
    """When A's last execution finished, once `count` have, each slot once."""

    async def poll() -> datetime:
        conn = await asyncpg.connect(dsn)
        try:
            while datetime.now(UTC) < deadline:
                done, last = await conn.fetchrow(
                    "SELECT count(*), max(completed_at) FROM job_executions"
                    " WHERE handler_name = 'noop' AND status = 'success'"
                )
                if done >= count:
                    break
                await asyncio.sleep(0.25)
            else:
                raise AssertionError(f"A's burst did not drain: {done} of {count}")
            slots = await conn.fetchval(
                "SELECT count(DISTINCT (job_id, scheduled_at)) FROM job_executions"
                " WHERE handler_name = 'noop'"
            )
            assert (done, slots) == (count, count), "a slot of A's ran twice or not at all"
            return last  # type: ignore[no-any-return]
        finally:
            await conn.close()

    drained = asyncio.run(poll())
    time.sleep(2.0)  # B's slots of the last seconds run too
    return drained


def read_runs(record: Path) -> list[tuple[str, int, int]]:
    runs = []
    for line in record.read_text().splitlines():
        execution_id, scheduled_us, started_us = line.split()
        runs.append((execution_id, int(scheduled_us), int(started_us)))
    assert len({r[0] for r in runs}) == len(runs), "an execution ran twice"
    return runs


def lateness(runs: list[tuple[str, int, int]], start: datetime, end: datetime) -> list[float]:
    """Milliseconds from each slot in [start, end) to its handler's start."""
    low, high = start.timestamp() * 1e6, end.timestamp() * 1e6
    return sorted((started - at) / 1000 for _, at, started in runs if low <= at < high)


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, max(0, round(fraction * len(values)) - 1))]
