"""A real Prometheus scrapes a real server under a small load, and what it
stored is read back through its HTTP query API.

The server (`cronstream serve`, metrics on a port of its own) gets 20 jobs
firing every second and a Python worker for them for about eight seconds;
Prometheus (Debian's package, started here on loopback with a scrape every
second and storage in a temporary folder) scrapes it. Then, through
Prometheus: the executions counter equals the SUCCESS executions the server
lists, the lateness histogram counted exactly the first attempts handed out,
its p99 is a real figure under a second, CreateJob was counted 20 times with
code OK, and a call with a wrong key as UNAUTHENTICATED.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from cronstream import Client, Context, Worker
from cronstream.v1 import execution_pb2, scheduler_service_pb2, scheduler_service_pb2_grpc

from tests.e2e.processes import ServerProcess, free_port, serving
from tests.e2e.test_docs import make_platform_key

ADMIN_KEY = "cs_admin_metrics"
JOBS = 20
WORK_SECONDS = 8.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(tmp_path_factory.mktemp("metrics-server"), ADMIN_KEY) as process:
        yield process


@pytest.fixture(scope="module")
def prometheus(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed (scripts/services.sh install installs it)")
    folder = tmp_path_factory.mktemp("prometheus")
    (folder / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: cronstream\n"
        f"    static_configs:\n      - targets: ['{server.metrics_address}']\n"
    )
    address = f"127.0.0.1:{free_port()}"
    log = (folder / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={address}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(f"http://{address}/-/ready", process, folder / "prometheus.log")
        yield f"http://{address}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"prometheus not ready:\n{log.read_text()[-3000:]}")


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def scalar(prometheus: str, promql: str) -> float | None:
    result = query(prometheus, promql)
    return float(result[0]["value"][1]) if result else None


def eventually(prometheus: str, promql: str, expected: float, timeout: float = 15.0) -> None:
    """Waits for the next scrapes to bring `promql` to `expected`."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = scalar(prometheus, promql)
        if seen == expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"{promql} = {seen}, expected {expected}")


async def load(address: str, api_key: str) -> list[str]:
    """JOBS jobs every second, worked for WORK_SECONDS; the job ids."""
    worker = Worker(api_key=api_key, target=address, worker_id="metrics-worker")

    @worker.handler("metrics.echo")
    async def echo(ctx: Context) -> dict[str, object]:
        return {"n": ctx.payload["n"]}

    async with Client.connect(address, api_key) as client:
        jobs = [
            await client.create_job(
                name=f"metrics {n}", handler="metrics.echo", every=timedelta(seconds=1),
                payload={"n": n},
            )
            for n in range(JOBS)
        ]  # fmt: skip
        working = asyncio.create_task(worker.run())
        await asyncio.sleep(WORK_SECONDS)
        for job in jobs:
            await client.pause_job(job.id)
        worker.stop()
        await working
    return [job.id for job in jobs]


def executions_by_status(address: str, api_key: str, job_ids: list[str]) -> dict[int, int]:
    counts: dict[int, int] = {}
    auth = (("authorization", f"Bearer {api_key}"),)
    with grpc.insecure_channel(address) as channel:
        scheduler = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        for job_id in job_ids:
            token = ""
            while True:
                page = scheduler.ListExecutions(
                    scheduler_service_pb2.ListExecutionsRequest(
                        job_id=job_id, page_size=100, page_token=token
                    ),
                    metadata=auth,
                )
                for execution in page.executions:
                    counts[execution.status] = counts.get(execution.status, 0) + 1
                token = page.next_page_token
                if not token:
                    break
    return counts


def test_prometheus_reads_lateness_and_executions(server: ServerProcess, prometheus: str) -> None:
    api_key = make_platform_key(server.address, ADMIN_KEY, "metrics")
    job_ids = asyncio.run(load(server.address, api_key))
    with grpc.insecure_channel(server.address) as channel:
        scheduler = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        with pytest.raises(grpc.RpcError):
            scheduler.ListJobs(
                scheduler_service_pb2.ListJobsRequest(),
                metadata=(("authorization", "Bearer cs_wrong"),),
            )

    statuses = executions_by_status(server.address, api_key, job_ids)
    succeeded = statuses.get(execution_pb2.EXECUTION_STATUS_SUCCESS, 0)
    handed_out = (
        execution_pb2.EXECUTION_STATUS_RUNNING,
        execution_pb2.EXECUTION_STATUS_SUCCESS,
        execution_pb2.EXECUTION_STATUS_FAILED,
        execution_pb2.EXECUTION_STATUS_TIMEOUT,
    )
    started = sum(n for status, n in statuses.items() if status in handed_out)
    assert succeeded >= JOBS * (WORK_SECONDS - 3), statuses

    eventually(
        prometheus, 'sum(cronstream_executions_finished_total{outcome="success"})', succeeded
    )
    eventually(prometheus, "sum(cronstream_firing_lateness_seconds_count)", started)
    eventually(
        prometheus,
        'sum(cronstream_grpc_requests_total{method="CreateJob", code="OK"})',
        JOBS,
    )
    eventually(prometheus, 'sum(cronstream_grpc_requests_total{code="UNAUTHENTICATED"})', 1)

    buckets = "increase(cronstream_firing_lateness_seconds_bucket[1m])"
    p99 = scalar(prometheus, f"histogram_quantile(0.99, sum by (le) ({buckets}))")
    assert p99 is not None and 0 < p99 < 1.0, p99
    labels = query(prometheus, "cronstream_firing_lateness_seconds_count")[0]["metric"]
    assert labels["handler"] == "metrics.echo" and labels["platform"], labels
