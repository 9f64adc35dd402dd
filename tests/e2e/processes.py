"""Server processes for end-to-end tests: real `cronstream` commands on free ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc

CRONSTREAM = Path(sys.executable).with_name("cronstream")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    address: str
    metrics_address: str = ""  # host:port of /metrics
    http_address: str = ""  # host:port of the dashboard
    output: list[str] = field(default_factory=list)

    def read_until(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Reads output lines until one matches (the process must print it)."""
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matched {pattern!r}; output:\n{''.join(self.output)}")

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, then the exit code; a server still running after `timeout` is
        killed (and reaped) and the failure carries its whole output."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self._drain_output()
            raise AssertionError(f"still running {timeout}s after SIGTERM:\n{self.log}") from None
        finally:
            self._drain_output()

    def _drain_output(self) -> None:
        if self.process.stdout and not self.process.stdout.closed:
            self.output.append(self.process.stdout.read())
            self.process.stdout.close()

    @property
    def log(self) -> str:
        return "".join(self.output)


def start_cronstream(
    args: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    port: int | None = None,
    http: bool = False,
) -> ServerProcess:
    address = f"127.0.0.1:{port or free_port()}"
    # Metrics on a port of its own: every process the tests start serves them,
    # and none takes `make run`'s fixed ports. The dashboard's HTTP port (a
    # child process) only where asked for, or under `dev`, which would take 8080.
    http = {"CRONSTREAM_HTTP_LISTEN": f"127.0.0.1:{free_port()}"} if http or "dev" in args else {}
    full_env = {
        **os.environ,
        "CRONSTREAM_LISTEN": address,
        "CRONSTREAM_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
        **http,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    process = subprocess.Popen(
        [str(CRONSTREAM), *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return ServerProcess(
        process=process,
        address=address,
        metrics_address=full_env["CRONSTREAM_METRICS_LISTEN"],
        http_address=full_env.get("CRONSTREAM_HTTP_LISTEN", ""),
    )


def wait_until_serving(address: str, timeout: float = 30.0) -> None:
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    finally:
        channel.close()


def wait_until_listening(address: str, timeout: float = 30.0) -> None:
    """Until `address` (host:port) takes a TCP connection. The dashboard's port
    is a child process the server starts after its gRPC port: a gRPC answer
    does not mean the dashboard is up yet (a second on a slow machine)."""
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def serving(
    cwd: Path, admin_key: str, env: dict[str, str] | None = None, http: bool = False
) -> Iterator[ServerProcess]:
    """`cronstream serve --migrate` on its default (SQLite) database in `cwd`,
    serving until the block ends (with the dashboard's HTTP port if `http`)."""
    process = start_cronstream(
        ["serve", "--migrate"], cwd, {"CRONSTREAM_ADMIN_KEY": admin_key, **(env or {})}, http=http
    )
    try:
        wait_until_serving(process.address)
        if http:
            wait_until_listening(process.http_address)
        yield process
    finally:
        process.terminate()
