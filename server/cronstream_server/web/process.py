"""Starting and stopping the HTTP port's process (http_process.py, web/child.py) from the server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from cronstream_server.listen import CannotListen
from cronstream_server.web.app import SHUTDOWN_SECONDS
from cronstream_server.web.child import ERROR, READY

log = logging.getLogger(__name__)

# Importing aiohttp and grpc takes about a second on a quiet machine; a loaded
# one gets far longer before start-up is called failed.
STARTUP_SECONDS = 60.0
# After SIGTERM the port ends its streams and gives calls in flight
# SHUTDOWN_SECONDS; past this it is killed.
STOP_SECONDS = SHUTDOWN_SECONDS + 4.0


@dataclass(frozen=True)
class PortSettings:
    listen: str
    socket: str  # the gRPC server's private unix: address
    max_message_bytes: int
    trace_url: str | None
    # The read server's settings, as environment variables (http_process.py).
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass
class WebProcess:
    process: asyncio.subprocess.Process
    port: int

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
            except TimeoutError:
                log.warning("the HTTP port's process did not stop in %.0f s: killed", STOP_SECONDS)
                self.process.kill()
                await self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()


def _command(settings: PortSettings) -> list[str]:
    command = [sys.executable, "-m", "cronstream_server.http_process", "--listen", settings.listen]
    command += ["--socket", settings.socket]
    command += ["--max-message-bytes", str(settings.max_message_bytes)]
    command += ["--log-level", logging.getLevelName(logging.getLogger().getEffectiveLevel())]
    if settings.trace_url:
        command += ["--trace-url", settings.trace_url]
    return command


async def start_web_process(settings: PortSettings) -> WebProcess:
    """Starts the port's process and waits until it serves; CannotListen when
    it cannot (its message says why), RuntimeError when it dies otherwise."""
    process = await asyncio.create_subprocess_exec(
        *_command(settings),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **settings.environment},
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), STARTUP_SECONDS)
    except BaseException:  # noqa: B036 - a timeout or our own cancellation
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    word, _, rest = line.decode().strip().partition(" ")
    if word == READY:
        return WebProcess(process, int(rest))
    await process.wait()
    if word == ERROR:
        raise CannotListen(rest)
    raise RuntimeError(f"the HTTP port's process exited with status {process.returncode}")
