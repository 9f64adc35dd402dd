"""Several replicas on one Postgres: every slot fires exactly once, even when a
replica is killed mid-run or runs with its clock minutes off."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cronstream_server.config import Settings

from tests.e2e.cluster import Cluster, grid, make_api_key, postgres_cluster, start_replica

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
JOBS = 20
EVERY = 0.5  # seconds
FIRE_AHEAD = Settings().fire_ahead_seconds


def _run_jobs(
    cluster: Cluster, seconds: float, during: object = None
) -> tuple[dict[str, list[datetime]], list[datetime]]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    end = start + timedelta(seconds=seconds)
    ids = [
        cluster.create_interval_job(i % len(cluster.replicas), f"job-{i}", start, EVERY, end)
        for i in range(JOBS)
    ]
    if callable(during):
        time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + seconds / 3)
        during()
    deadline = time.monotonic() + seconds + 20
    while cluster.unfinished_jobs() and time.monotonic() < deadline:
        # No slot is ever written earlier than the fire-ahead before its
        # instant, by the database's clock (a skewed replica's own is ignored).
        assert cluster.greatest_firing_lead() <= FIRE_AHEAD
        time.sleep(0.2)
    assert cluster.unfinished_jobs() == 0, "jobs did not complete in time"
    found = cluster.slots()
    assert set(found) == set(ids)
    return found, grid(start, EVERY, end)


def test_a_killed_replica_loses_and_doubles_nothing(tmp_path: Path) -> None:
    with postgres_cluster(tmp_path) as cluster:
        for _ in range(3):
            start_replica(cluster, tmp_path)
        make_api_key(cluster)
        victim = cluster.replicas[1]

        def kill() -> None:
            victim.process.send_signal(signal.SIGKILL)

        found, expected = _run_jobs(cluster, seconds=6, during=kill)
        assert victim.process.wait(5) == -signal.SIGKILL
        for job_id, slots in found.items():
            assert slots == expected, job_id  # every slot, once, in order


def test_a_replica_with_a_skewed_clock_fires_each_slot_once(tmp_path: Path) -> None:
    if not LIBFAKETIME.exists():
        pytest.fail("libfaketime is missing: run `scripts/services.sh install` (make test does)")
    with postgres_cluster(tmp_path) as cluster:
        start_replica(cluster, tmp_path)
        # libfaketime preloaded into the replica's own process (the `faketime`
        # wrapper would stand between it and our signals).
        start_replica(cluster, tmp_path, {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": "-5m"})
        start_replica(cluster, tmp_path, {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": "+3m"})
        make_api_key(cluster)
        found, expected = _run_jobs(cluster, seconds=5)
        for job_id, slots in found.items():
            assert slots == expected, job_id
