"""A concurrency key across three replicas on one Postgres, one of them
SIGKILLed mid-run: never more than the key's limit running at once, and
every execution succeeds exactly once (docs/scheduling.md#concurrency-keys)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import asyncpg
from cronstream.v1 import job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

from tests.e2e.chaos import spawn, tail, wait_stopped
from tests.e2e.cluster import Cluster, make_api_key, postgres_cluster, start_replica

WORKER = Path(__file__).with_name("limits_worker.py")
LIMIT = 3
EXECUTIONS = 60
# Short leases: what the killed replica had claimed and not yet handed over
# comes back within seconds, not the default half minute.
REPLICA_ENV = {"CRONSTREAM_LEASE_SECONDS": "3", "CRONSTREAM_HEARTBEAT_SECONDS": "1"}


def _records(paths: list[Path]) -> list[tuple[str, int, float, float, str]]:
    found = []
    for path in paths:
        for line in path.read_text().splitlines():
            execution_id, attempt, began, ended, outcome = line.split("\t")
            found.append((execution_id, int(attempt), float(began), float(ended), outcome))
    return found


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    running = most = 0
    for _, change in events:  # an end sorts before a start at the same instant
        running += change
        most = max(most, running)
    return most


def _database_rows(cluster: Cluster) -> list[asyncpg.Record]:
    async def read() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(cluster.dsn)
        try:
            return await conn.fetch(
                "SELECT id::text AS id, status, started_at, completed_at FROM job_executions"
            )
        finally:
            await conn.close()

    return asyncio.run(read())


def _succeeded(cluster: Cluster) -> int:
    return sum(1 for row in _database_rows(cluster) if row["status"] == "success")


def _start_workers(
    cluster: Cluster, tmp_path: Path
) -> tuple[list[subprocess.Popen[bytes]], list[Path]]:
    """One worker per replica, each trying its own replica first, then the others."""
    addresses = [replica.address for replica in cluster.replicas]
    workers, records = [], []
    for index in range(len(addresses)):
        order = addresses[index:] + addresses[:index]
        record, log = tmp_path / f"record-{index}.tsv", tmp_path / f"worker-{index}.log"
        record.touch()
        command = [sys.executable, str(WORKER), "ipv4:" + ",".join(order), cluster.api_key]
        workers.append(spawn([*command, f"w{index}", str(record)], log))
        records.append(record)
        deadline = time.monotonic() + 30
        while "worker connected" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, f"worker {index} did not connect:\n{tail(log)}"
            time.sleep(0.1)
    return workers, records


def test_a_key_holds_its_limit_across_replicas_when_one_is_killed(tmp_path: Path) -> None:
    with postgres_cluster(tmp_path) as cluster:
        for _ in range(3):
            start_replica(cluster, tmp_path, REPLICA_ENV)
        make_api_key(cluster)
        job = job_pb2.Job(
            name="limited",
            handler_name="limited",
            event=job_pb2.EventTrigger(event_name="never-sent"),
            concurrency=job_pb2.ConcurrencyLimit(key="shared", limit=LIMIT),
        )
        job_id = (
            cluster.scheduler(0)
            .CreateJob(pb.CreateJobRequest(job=job), metadata=cluster.auth)
            .job.id
        )
        workers, records = _start_workers(cluster, tmp_path)
        try:
            for n in range(EXECUTIONS):
                cluster.scheduler(n % 3).RunJob(pb.RunJobRequest(id=job_id), metadata=cluster.auth)
            deadline = time.monotonic() + 60
            while _succeeded(cluster) < EXECUTIONS // 3:
                assert time.monotonic() < deadline, "too slow before the kill"
                time.sleep(0.05)
            cluster.replicas[1].process.send_signal(signal.SIGKILL)
            while _succeeded(cluster) < EXECUTIONS:
                assert time.monotonic() < deadline, f"{_succeeded(cluster)} of {EXECUTIONS} done"
                time.sleep(0.2)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                wait_stopped(worker, 15.0)
        rows = _database_rows(cluster)
        assert len(rows) == EXECUTIONS and {r["status"] for r in rows} == {"success"}
        recorded = [(r["started_at"], r["completed_at"]) for r in rows]
        assert most_at_once([(_epoch(a), _epoch(b)) for a, b in recorded]) <= LIMIT
        ran = _records(records)
        # Every attempt any worker ran, cancelled ones included, by its own clock.
        assert most_at_once([(began, ended) for _, _, began, ended, _ in ran]) <= LIMIT
        done = sorted(execution_id for execution_id, _, _, _, outcome in ran if outcome == "done")
        assert done == sorted(r["id"] for r in rows)  # each ran to the end exactly once


def _epoch(value: datetime) -> float:
    return value.timestamp()
