"""What every Cronstream benchmark needs: a throwaway Postgres, a fresh
database per run, a `cronstream serve` process on it, and an API key."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from alembic import command
from cronstream.v1 import admin_service_pb2 as admin_pb
from cronstream.v1 import admin_service_pb2_grpc, job_pb2, scheduler_service_pb2_grpc
from cronstream.v1 import scheduler_service_pb2 as scheduler_pb
from cronstream_server.migrate import alembic_config
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench import procfs

ROOT = Path(__file__).resolve().parent.parent
CRONSTREAM = Path(sys.executable).with_name("cronstream")
ADMIN_KEY = "bench-admin-key-" + "x" * 24


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Postgres:
    """A running cluster: `dsn` for libpq clients, `url` for SQLAlchemy;
    `redis_url`, the Redis started beside a throwaway cluster (None given a dsn)."""

    dsn: str
    redis_url: str | None = None

    def database(self, name: str) -> Postgres:
        """A fresh, empty database on the same cluster."""
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", self.dsn, "-c", f'create database "{name}"'],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return Postgres(re.sub(r"/[^/]+$", f"/{name}", self.dsn), self.redis_url)

    @property
    def url(self) -> str:
        return self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


@contextlib.contextmanager
def postgres(dsn: str | None = None) -> Iterator[Postgres]:
    """The given cluster, or a throwaway one from scripts/services.sh (stock
    settings: synchronous_commit on), stopped afterwards."""
    if dsn:
        yield Postgres(dsn)
        return
    folder = Path(tempfile.mkdtemp(prefix="cronstream-bench-"))
    services = str(ROOT / "scripts" / "services.sh")
    subprocess.run([services, "start", str(folder)], check=True, stdout=subprocess.DEVNULL)
    try:
        env = dict(
            line.split("=", 1) for line in (folder / "env").read_text().splitlines() if "=" in line
        )
        yield Postgres(env["CRONSTREAM_TEST_POSTGRES_DSN"], env.get("CRONSTREAM_TEST_REDIS_URL"))
    finally:
        subprocess.run([services, "stop", str(folder)], check=False, stdout=subprocess.DEVNULL)


def database_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def libpq_dsn(dsn: str | None) -> str | None:
    """`postgresql://...` for psql and asyncpg, from either URL form."""
    return dsn.replace("postgresql+asyncpg://", "postgresql://", 1) if dsn else None


@contextlib.contextmanager
def scratch_database(cluster: Postgres, prefix: str, *, keep: bool) -> Iterator[Postgres]:
    """A fresh database for one run, dropped afterwards unless `keep`: a
    million-job table should not outlive the benchmark that made it."""
    name = database_name(prefix)
    database = cluster.database(name)
    try:
        yield database
    finally:
        if keep:
            log(f"kept database {name}")
        else:
            drop = f'drop database if exists "{name}" with (force)'
            subprocess.run(
                ["psql", "-q", cluster.dsn, "-c", drop], check=False, stdout=subprocess.DEVNULL
            )


@contextlib.contextmanager
def migrated_database(dsn: str | None, prefix: str) -> Iterator[Postgres]:
    """A fresh database migrated to head on the cluster at `dsn` (either URL
    form; None: a throwaway one), dropped afterwards: for the benchmarks that
    write the schema's tables straight, without a server."""
    with (
        postgres(libpq_dsn(dsn)) as cluster,
        scratch_database(cluster, prefix, keep=False) as database,
    ):
        command.upgrade(alembic_config(database.url), "head")
        yield database


def measured(
    result: dict[str, Any],
    dsn: str | None,
    prefix: str,
    body: Callable[[Postgres, Server], None],
    *,
    keep: bool = False,
) -> dict[str, Any]:
    """Runs `body` on a scratch database and a server of its own, and returns
    `result` whatever happens: what was measured, with an `error` if the run
    stopped early (its time limit, or a failure), and its wall time."""
    started = time.monotonic()
    try:
        with (
            postgres(libpq_dsn(dsn)) as cluster,
            scratch_database(cluster, prefix, keep=keep) as database,
            server(database) as srv,
        ):
            body(database, srv)
    except TimeoutError:
        result["error"] = "time limit reached"
    except Exception as error:  # still one JSON line, with what was measured
        logging.exception("benchmark failed")
        result["error"] = repr(error)
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    return result


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    address: str
    key: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far: under a
        noisy neighbour, CPU per execution is steadier than wall time."""
        return procfs.cpu_seconds(self.pid)

    def rss_mib(self) -> float:
        """Resident memory of the server process, from /proc."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        kib = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
        return kib / 1024


@contextlib.contextmanager
def server(
    database: Postgres,
    env: dict[str, str] | None = None,
    metrics: bool = False,
    *,
    address: str | None = None,
    key: str | None = None,
) -> Iterator[Server]:
    """`cronstream serve --migrate` on `database`, with a platform and its key.
    With `metrics`, it keeps and serves its metrics, scraped every second
    while it runs (a stricter scraper than Prometheus's usual 15 s).
    `address` (default: a free port) and `key` (default: a new platform's)
    are for a further replica on the same database (bench/replicas.py)."""
    address = address or f"127.0.0.1:{free_port()}"
    metrics_address = f"127.0.0.1:{free_port()}"
    full_env = {
        **os.environ,
        "CRONSTREAM_LISTEN": address,
        "CRONSTREAM_DATABASE_URL": database.url,
        "CRONSTREAM_ADMIN_KEY": ADMIN_KEY,
        **({"CRONSTREAM_METRICS_LISTEN": metrics_address} if metrics else {}),
        **(env or {}),
    }
    # CRONSTREAM_BENCH_KEEP_LOG=1 keeps the server's log for a look afterwards.
    logfile = tempfile.NamedTemporaryFile(
        prefix="cronstream-bench-server-",
        suffix=".log",
        delete=os.environ.get("CRONSTREAM_BENCH_KEEP_LOG") != "1",
    )
    process = subprocess.Popen(
        [str(CRONSTREAM), "serve", "--migrate"], env=full_env, stdout=logfile, stderr=logfile
    )
    scraping = threading.Event()
    scraper = threading.Thread(
        target=_scrape_every_second, args=(f"http://{metrics_address}/metrics", scraping)
    )
    try:
        if full_env.get("CRONSTREAM_REUSE_PORT") == "1":
            # Another process on the shared port may answer the health check.
            _wait_listening(address, process)
        _wait_serving(address, process)
        if metrics:
            scraper.start()
        yield Server(process, address, key or platform_key(address))
    finally:
        scraping.set()
        if scraper.is_alive():
            scraper.join()
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if not logfile.delete:
            log(f"server log kept: {logfile.name}")
        logfile.close()


def _scrape_every_second(url: str, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
        except OSError as error:
            log(f"metrics scrape failed: {error}")


def _wait_serving(address: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        # The stubs type HealthStub for asyncio channels only; this one is blocking.
        health: Any = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"cronstream serve exited with {process.returncode}")
            with contextlib.suppress(grpc.RpcError):
                answer = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"cronstream serve not serving on {address} after {timeout}s")


def _wait_listening(address: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    port = int(address.rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout
    while not procfs.listens(process.pid, port):
        if process.poll() is not None:
            raise RuntimeError(f"cronstream serve exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"cronstream serve not listening on {address} after {timeout}s")
        time.sleep(0.1)


def platform_key(address: str, name: str = "bench") -> str:
    """A new platform on the server at `address`, and an API key of it."""
    with grpc.insecure_channel(address) as channel:
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        auth = (("authorization", f"Bearer {ADMIN_KEY}"),)
        request = admin_pb.CreatePlatformRequest(platform=admin_pb.Platform(name=name))
        platform = admin.CreatePlatform(request, metadata=auth).platform
        key_request = admin_pb.CreateApiKeyRequest(platform_id=platform.id, name=name)
        secret: str = admin.CreateApiKey(key_request, metadata=auth).secret
        return secret


@contextlib.contextmanager
def profiled(pid: int, output: Path | None) -> Iterator[None]:
    """py-spy samples the server while the block runs; `output` ending in
    .svg gets a flame graph, anything else py-spy's raw collapsed stacks."""
    if output is None:
        yield
        return
    form = "flamegraph" if output.suffix == ".svg" else "raw"
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "--pid", str(pid), "--rate", "250", "--format", form]
    if os.environ.get("BENCH_NATIVE"):  # C frames too: tells idle epoll from encoding
        command.append("--native")
    process = subprocess.Popen([*command, "--output", str(output)], stdout=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches before the work starts
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


async def create_jobs(
    address: str,
    key: str,
    jobs: Iterable[job_pb2.Job],
    batch: int = 1000,
    in_flight: int = 4,
    ids: list[str] | None = None,
) -> float:
    """Creates `jobs` through BatchCreateJobs, `in_flight` batches at a time;
    returns the seconds it took. The created jobs' ids go to `ids` if given
    (in no particular order)."""
    started = time.monotonic()
    auth = (("authorization", f"Bearer {key}"),)
    queue = iter(jobs)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)

        async def loader() -> None:
            while chunk := list(itertools.islice(queue, batch)):
                requests = [scheduler_pb.CreateJobRequest(job=job) for job in chunk]
                request = scheduler_pb.BatchCreateJobsRequest(requests=requests)
                answer = await stub.BatchCreateJobs(request, metadata=auth, timeout=120)
                if ids is not None:
                    ids.extend(job.id for job in answer.jobs)

        await asyncio.gather(*(loader() for _ in range(in_flight)))
    return time.monotonic() - started


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]
