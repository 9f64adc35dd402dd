"""Redis carries wake-ups between replicas; losing Redis costs latency, not work."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cronstream.v1 import job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.config import Settings
from google.protobuf import timestamp_pb2

from tests.e2e.cluster import Cluster, make_api_key, postgres_cluster, start_replica
from tests.e2e.processes import free_port, wait_until_listening

POLL_FALLBACK = 5.0  # the ticker's longest sleep without a signal
FIRE_AHEAD = Settings().fire_ahead_seconds


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A Redis of this test's own, so that the test may kill it."""
    binary = os.environ.get("CRONSTREAM_TEST_REDIS_SERVER")
    if not binary:
        pytest.skip("Redis not configured (run `make test`)")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(f"127.0.0.1:{port}", timeout=10)
        yield process, f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait()


def _fire_lag(cluster: Cluster, api_replica: int) -> float:
    """Creates a job due in 0.3 s on the API-only replica; seconds from its slot
    until the ticking replica has made its execution."""
    run_at = datetime.now(UTC) + timedelta(milliseconds=300)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(run_at)
    job = job_pb2.Job(name="wake", handler_name="h", once=job_pb2.OnceTrigger(run_at=stamp))
    scheduler = cluster.scheduler(api_replica)
    job_id = scheduler.CreateJob(pb.CreateJobRequest(job=job), metadata=cluster.auth).job.id
    deadline = time.monotonic() + POLL_FALLBACK + 10
    while time.monotonic() < deadline:
        runs = scheduler.ListExecutions(
            pb.ListExecutionsRequest(job_id=job_id), metadata=cluster.auth
        )
        if runs.executions:
            created = runs.executions[0].created_at.ToDatetime(tzinfo=UTC)
            return (created - run_at).total_seconds()
        time.sleep(0.05)
    raise AssertionError("the job never fired")


def test_redis_wakes_other_replicas_and_its_loss_costs_only_latency(
    tmp_path: Path, redis_server: tuple[subprocess.Popen[bytes], str]
) -> None:
    process, url = redis_server
    with postgres_cluster(tmp_path) as cluster:
        redis = {"CRONSTREAM_REDIS_URL": url}
        start_replica(cluster, tmp_path, {**redis, "CRONSTREAM_TICKER": "off"})  # API only
        start_replica(cluster, tmp_path, redis)  # the one that ticks
        make_api_key(cluster)
        time.sleep(1.0)  # both subscribed; the ticker asleep for up to 5 s

        woken = [_fire_lag(cluster, api_replica=0) for _ in range(3)]
        assert max(woken) < 1.5, woken  # through Redis, not the 5 s poll

        process.kill()
        process.wait()
        polled = _fire_lag(cluster, api_replica=0)
        # Later, but fired (or fired ahead, when a poll fell just before its instant).
        assert -FIRE_AHEAD <= polled < POLL_FALLBACK + 2.0
        health = cluster.scheduler(0).GetHealth(pb.GetHealthRequest(), metadata=cluster.auth).health
        signals = next(c for c in health.components if c.name == "signals")
        assert signals.message == "redis unreachable; polling"
    for replica in cluster.replicas:  # stopped by now, their output read
        assert "Traceback" not in replica.log
