"""The HTTP port's own process (started by web/process.py, composed in http_process.py).

The server starts it so that page loads, static files, the gRPC-web framing and
the dashboard's reads never run in the event loop that fires and dispatches
executions: the reads go to the read server beside it in this process
(read_server.py), and only the other calls reach the server, through its private
unix socket, as any gRPC client's would. With the port in the server's loop, a
burst of 1,000 page loads made W2's firing p99 several times its value alone
(docs/benchmarks.md).

Talking with the parent: arguments in (and the read server's settings in the
environment, http_process.py); one line out on stdout, `ready <port>` once
serving or `error <message>` when it cannot listen; it stops at SIGTERM or
SIGINT, or when its stdin ends (the parent is gone, even killed).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import grpc

from cronstream_server.listen import CannotListen
from cronstream_server.web.app import build_app, dashboard_config, start_http
from cronstream_server.web.bridge import Bridge

log = logging.getLogger(__name__)

READY = "ready"
ERROR = "error"
# Exit status when the address cannot be served (the parent reads the line).
CANNOT_LISTEN = 3


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cronstream_server.http_process")
    parser.add_argument("--listen", required=True, help="host:port of the HTTP port")
    parser.add_argument("--socket", required=True, help="the gRPC server's unix: address")
    parser.add_argument("--max-message-bytes", type=int, required=True)
    parser.add_argument("--trace-url", help="the dashboard's trace link template")
    parser.add_argument("--log-level", help="as the server's")
    return parser


def _say(line: str) -> None:
    print(line, flush=True)  # noqa: T201 - the parent reads this line


class _ParentWatch(asyncio.Protocol):
    """Our stdin, which the parent holds open while it lives: its end stops us."""

    def __init__(self, stop: asyncio.Event) -> None:
        self._stop = stop

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop.set()


async def _stop_when_stdin_ends(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    try:
        await loop.connect_read_pipe(lambda: _ParentWatch(stop), sys.stdin)
    except ValueError:  # a regular file, as when run by hand with `< file`
        log.info("stdin is not a pipe: stopping on signals only")


def _channel(address: str, max_message_bytes: int) -> grpc.aio.Channel:
    sizes = ("grpc.max_receive_message_length", "grpc.max_send_message_length")
    return grpc.aio.insecure_channel(address, options=[(size, max_message_bytes) for size in sizes])


async def serve(args: argparse.Namespace, reads_address: str) -> int:
    """Serves until stopped; `reads_address` is the read server's unix: address."""
    channel = _channel(args.socket, args.max_message_bytes)
    reads = _channel(reads_address, args.max_message_bytes)
    bridge = Bridge(channel, args.max_message_bytes, reads=reads)
    app = build_app(bridge, dashboard_config(args.trace_url))
    try:
        http = await start_http(app, args.listen)
    except CannotListen as error:
        _say(f"{ERROR} {error}")
        await channel.close()
        await reads.close()
        return CANNOT_LISTEN
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await _stop_when_stdin_ends(stop)
    _say(f"{READY} {http.port}")
    await stop.wait()
    await http.close()
    await channel.close()
    await reads.close()
    return 0
