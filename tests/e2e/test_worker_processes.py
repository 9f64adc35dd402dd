"""Worker processes against `cronstream serve` processes: a worker killed or
frozen mid-execution loses it to another, and CancelExecution reaches a
worker through whichever replica holds its stream."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cronstream.v1 import admin_service_pb2 as admin_pb
from cronstream.v1 import admin_service_pb2_grpc, execution_pb2, job_pb2, scheduler_service_pb2_grpc
from cronstream.v1 import scheduler_service_pb2 as pb

from tests import databases
from tests.e2e.cluster import make_api_key, postgres_cluster, start_replica
from tests.e2e.processes import ServerProcess, start_cronstream, wait_until_serving
from tests.jobs import ts

RAW_WORKER = Path(__file__).with_name("raw_worker.py")
ADMIN_KEY = "cs_admin_worker_e2e"
LEASE = 2.0  # generous: a loaded CI machine must not lose a healthy lease
FAST_LEASES = {
    "CRONSTREAM_LEASE_SECONDS": str(LEASE),
    "CRONSTREAM_HEARTBEAT_SECONDS": "0.4",
    "CRONSTREAM_REAPER_INTERVAL_SECONDS": "0.1",
}


@dataclass
class WorkerProcess:
    """tests/e2e/raw_worker.py, its output read line by line with deadlines."""

    process: subprocess.Popen[bytes]
    pending: bytes = b""
    lines: list[str] = field(default_factory=list)

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.pending:
                raw, self.pending = self.pending.split(b"\n", 1)
                self.lines.append(line := raw.decode())
                if match := re.fullmatch(pattern, line):
                    return match
            remaining = deadline - time.monotonic()
            assert self.process.stdout is not None
            if remaining <= 0 or not select.select([self.process.stdout], [], [], remaining)[0]:
                raise AssertionError(f"no line matched {pattern!r}; got {self.lines}")
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"worker exited; got {self.lines}")
            self.pending += chunk

    def signal(self, number: int) -> None:
        self.process.send_signal(number)


@contextmanager
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.process.kill()
            worker.process.wait(5)
            if worker.process.stdout is not None:
                worker.process.stdout.close()


def start_worker(
    started: list[WorkerProcess], address: str, key: str, name: str, handler: str = "h"
) -> WorkerProcess:
    process = subprocess.Popen(
        [sys.executable, str(RAW_WORKER), address, key, name, handler],
        stdout=subprocess.PIPE,
        bufsize=0,
    )
    worker = WorkerProcess(process)
    started.append(worker)
    worker.expect(r"welcome \S+")
    return worker


@dataclass
class Api:
    address: str
    key: str

    @property
    def scheduler(self) -> scheduler_service_pb2_grpc.SchedulerServiceStub:
        return scheduler_service_pb2_grpc.SchedulerServiceStub(grpc.insecure_channel(self.address))

    @property
    def auth(self) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.key}"),)

    def run_job(self, handler: str = "h") -> str:
        at = ts(datetime.now(UTC) + timedelta(days=1))
        job = job_pb2.Job(name="e2e", handler_name=handler, once=job_pb2.OnceTrigger(run_at=at))
        created = self.scheduler.CreateJob(pb.CreateJobRequest(job=job), metadata=self.auth).job
        response = self.scheduler.RunJob(pb.RunJobRequest(id=created.id), metadata=self.auth)
        execution_id: str = response.execution.id
        return execution_id

    def execution(self, execution_id: str) -> execution_pb2.Execution:
        request = pb.GetExecutionRequest(id=execution_id)
        return self.scheduler.GetExecution(request, metadata=self.auth).execution


@contextmanager
def sqlite_server(tmp_path: Path) -> Iterator[Api]:
    env = {
        "CRONSTREAM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
        "CRONSTREAM_ADMIN_KEY": ADMIN_KEY,
        **FAST_LEASES,
    }
    server: ServerProcess = start_cronstream(["serve", "--migrate"], tmp_path, env)
    try:
        wait_until_serving(server.address)
        yield Api(server.address, _api_key(server.address))
    finally:
        assert server.terminate() == 0, server.log


def _api_key(address: str) -> str:
    with grpc.insecure_channel(address) as channel:
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        auth = (("authorization", f"Bearer {ADMIN_KEY}"),)
        request = admin_pb.CreatePlatformRequest(platform=admin_pb.Platform(name="e2e"))
        platform = admin.CreatePlatform(request, metadata=auth).platform
        key = admin_pb.CreateApiKeyRequest(platform_id=platform.id, name="e2e")
        secret: str = admin.CreateApiKey(key, metadata=auth).secret
        return secret


def test_a_killed_worker_process_loses_its_execution_to_another(tmp_path: Path) -> None:
    with sqlite_server(tmp_path) as api, workers() as started:
        victim = start_worker(started, api.address, api.key, "victim")
        execution_id = api.run_job()
        victim.expect(f"assigned {execution_id} 1")
        victim.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        heir = start_worker(started, api.address, api.key, "heir")
        heir.expect(f"assigned {execution_id} 2", timeout=LEASE + 5)
        # Its connection closed with it, so no need to wait for the lease.
        assert time.monotonic() - killed_at < LEASE + 3
        current = api.execution(execution_id)
        assert (current.attempt, current.worker_id) == (2, "heir")


def test_a_frozen_worker_loses_its_lease_and_its_late_result_is_refused(tmp_path: Path) -> None:
    with sqlite_server(tmp_path) as api, workers() as started:
        frozen = start_worker(started, api.address, api.key, "frozen")
        execution_id = api.run_job()
        frozen.expect(f"assigned {execution_id} 1")
        heir = start_worker(started, api.address, api.key, "heir")
        frozen.signal(signal.SIGSTOP)  # its connection stays open, its heartbeats stop
        stopped_at = time.monotonic()
        heir.expect(f"assigned {execution_id} 2", timeout=LEASE + 5)
        assert time.monotonic() - stopped_at >= LEASE * 0.7  # only once the lease ran out
        frozen.signal(signal.SIGCONT)
        frozen.expect(f"cancel {execution_id} lease lost")
        frozen.expect(f"acked {execution_id}")  # its failure for attempt 1: acked, refused
        current = api.execution(execution_id)
        assert (current.status, current.attempt) == (execution_pb2.EXECUTION_STATUS_RUNNING, 2)
        assert current.worker_id == "heir"


def test_cancel_execution_reaches_a_worker_on_another_replica(tmp_path: Path) -> None:
    redis = databases.redis_url()
    if redis is None:
        pytest.skip("Redis not configured (run `make test`)")
    with postgres_cluster(tmp_path) as cluster, workers() as started:
        for _ in range(2):
            start_replica(cluster, tmp_path, {"CRONSTREAM_REDIS_URL": redis, **FAST_LEASES})
        make_api_key(cluster)
        holder, other = cluster.replicas[0].address, cluster.replicas[1].address
        worker = start_worker(started, holder, cluster.api_key, "w")
        api = Api(other, cluster.api_key)
        execution_id = api.run_job()
        worker.expect(f"assigned {execution_id} 1", timeout=1.5)  # a `work` signal, not a poll
        api.scheduler.CancelExecution(pb.CancelExecutionRequest(id=execution_id), metadata=api.auth)
        asked = time.monotonic()
        worker.expect(f"cancel {execution_id} cancelled", timeout=3)
        assert time.monotonic() - asked < 1.0
        worker.expect(f"acked {execution_id}")
        assert api.execution(execution_id).status == execution_pb2.EXECUTION_STATUS_CANCELLED
