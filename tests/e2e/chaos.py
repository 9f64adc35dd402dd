"""The chaos suite's processes: a Postgres cluster, a Redis, `cronstream serve`
replicas and worker processes, each of the suite's own, so that it may stop,
kill and restart them without touching what other tests share.

Postgres refuses to run as root; as root it runs as the unprivileged user
scripts/services.sh creates (`cronstream-test`, or CRONSTREAM_SERVICES_USER),
from a directory under /tmp that user can reach, as services.sh does.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.e2e.processes import CRONSTREAM, free_port

CHAOS_WORKER = Path(__file__).with_name("chaos_worker.py")
SERVICE_USER = os.environ.get("CRONSTREAM_SERVICES_USER", "cronstream-test")
PG_SUPERUSER = "postgres"
PG_DATABASE = "cronstream"
START_TIMEOUT = 30.0


def as_service_user(command: list[str]) -> list[str]:
    """`command`, run as the unprivileged service user when we are root."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SERVICE_USER, "--", *command]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:])
    except OSError:
        return f"({path} unreadable)"


def wait_stopped(process: subprocess.Popen[bytes], timeout: float) -> int:
    """Waits for `process`; SIGKILLs it past `timeout`. Returns its exit code."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def spawn(
    command: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Starts `command` with its stdout and stderr appended to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )


# --- Postgres -------------------------------------------------------------------


@dataclass
class Postgres:
    """A throwaway cluster: initdb'd under `root`, on a loopback port."""

    bin_dir: Path
    root: Path
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "pg"

    @property
    def log(self) -> Path:
        return self.root / "pg.log"

    @property
    def dsn(self) -> str:
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/{PG_DATABASE}"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{PG_SUPERUSER}@127.0.0.1:{self.port}/{PG_DATABASE}"

    @classmethod
    def create(cls, bin_dir: Path) -> Postgres:
        """initdb, configure, start, and create the database."""
        root = Path(tempfile.mkdtemp(prefix="cs-chaos-", dir="/tmp"))
        root.chmod(0o755)  # the service user must traverse it
        postgres = cls(bin_dir, root)
        try:
            for path in (postgres.data, root / "run"):
                path.mkdir(mode=0o700)
            postgres.log.touch()
            if os.geteuid() == 0:
                for path in (postgres.data, root / "run", postgres.log):
                    shutil.chown(path, SERVICE_USER, SERVICE_USER)
            postgres._initdb()
            postgres.start()
            asyncio.run(postgres._create_database())
        except BaseException:
            postgres.destroy()
            raise
        return postgres

    def _initdb(self) -> None:
        self._run(
            "initdb",
            *("-D", str(self.data), "-U", PG_SUPERUSER, "--auth=trust"),
            *("--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"),
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root / 'run'}'\nmax_connections = 200\n"
            )

    async def _create_database(self) -> None:
        conn = await asyncpg.connect(f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/postgres")
        try:
            await conn.execute(f"CREATE DATABASE {PG_DATABASE}")
        finally:
            await conn.close()

    def start(self) -> None:
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "30")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: a fast shutdown, then a start."""
        self._run(
            *("pg_ctl", "restart", "-D", str(self.data), "-l", str(self.log)),
            *("-m", "fast", "-w", "-t", "30"),
        )

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self, keep_log: Path | None = None) -> None:
        """Stops the cluster at once and deletes it (its log copied to `keep_log`)."""
        try:
            if self.running:
                self.stop("immediate")
        finally:
            if keep_log is not None and self.log.exists():
                shutil.copyfile(self.log, keep_log)
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = as_service_user([str(self.bin_dir / program), *args])
        done = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args[:2])} failed ({done.returncode}):\n"
                f"{done.stdout}{done.stderr}\n--- {self.log}:\n{tail(self.log)}"
            )


# --- Redis ----------------------------------------------------------------------


@dataclass
class Redis:
    """A Redis without persistence, restartable on its port."""

    binary: str
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = spawn(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            self.directory / "redis.log",
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis did not start:\n{tail(self.directory / 'redis.log')}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


# --- replicas and workers -------------------------------------------------------


@dataclass
class Replica:
    """`cronstream serve`, its output appended to `log`; restartable on its port."""

    name: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, **self.env, "CRONSTREAM_LISTEN": self.address}
        self.process = spawn([str(CRONSTREAM), "serve"], self.log, {**env, "PYTHONUNBUFFERED": "1"})
        wait_serving(self.address, self.process, self.log)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> int | None:
        """SIGTERM; SIGKILL if it still runs 20 s later. Its exit code."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        code = wait_stopped(self.process, 20.0)
        self.process = None
        return code

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0


def wait_serving(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until grpc.health.v1 answers SERVING; fails at once should the process die."""
    deadline = time.monotonic() + START_TIMEOUT
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{address} exited ({process.returncode}):\n{tail(log)}")
            try:
                answer = health.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"{address} not serving after {START_TIMEOUT:g} s:\n{tail(log)}")


@dataclass
class WorkerProcess:
    """tests/e2e/chaos_worker.py: records what it runs to `record`."""

    worker_id: str
    target: str
    api_key: str
    record: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.record.touch()
        command = [sys.executable, str(CHAOS_WORKER), self.target, self.api_key]
        self.process = spawn([*command, self.worker_id, str(self.record)], self.log)
        deadline = time.monotonic() + START_TIMEOUT
        while "worker connected" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.worker_id} did not connect:\n{tail(self.log)}")
            time.sleep(0.1)

    def stop(self) -> int | None:
        """SIGTERM (a graceful stop: it finishes what runs); SIGKILL past 15 s."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        code = wait_stopped(self.process, 15.0)
        self.process = None
        return code
