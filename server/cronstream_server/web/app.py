"""The HTTP port: its routes, and starting and stopping it (in its own process, web/child.py)."""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from aiohttp import web

from cronstream_server.listen import CannotListen, check_free
from cronstream_server.web.bridge import Bridge
from cronstream_server.web.security_headers import add_security_headers
from cronstream_server.web.static_files import STATIC_DIR, StaticFiles

log = logging.getLogger(__name__)

# A port that closes waits this long for its requests in flight (streams are
# ended at once, see Bridge.close): the gRPC server's own grace follows it.
SHUTDOWN_SECONDS = 1.0
IN_USE = "the address is in use; set CRONSTREAM_HTTP_LISTEN to another host:port"


@dataclass
class HttpPort:
    runner: web.AppRunner
    port: int

    async def close(self) -> None:
        await self.runner.cleanup()


def dashboard_config(trace_url: str | None) -> dict[str, Any]:
    """/config.json: what the dashboard needs to know and a stranger may read."""
    try:
        served = version("cronstream-server")
    except PackageNotFoundError:  # run from a source tree, not installed
        served = "unknown"
    return {"traceUrl": trace_url, "version": served}


def build_app(
    bridge: Bridge, config: dict[str, Any], static_dir: Path = STATIC_DIR
) -> web.Application:
    # Bodies are bounded by the bridge itself (RESOURCE_EXHAUSTED as gRPC says it),
    # so aiohttp's own limit, for form posts, is not used.
    app = web.Application()
    app.on_response_prepare.append(add_security_headers)
    app.on_shutdown.append(lambda _: bridge.close())

    async def config_json(request: web.Request) -> web.Response:
        return web.json_response(config, headers={"Cache-Control": "no-store"})

    app.router.add_get("/config.json", config_json)
    app.router.add_post("/{path:.*}", bridge.handle)
    app.router.add_get("/{path:.*}", StaticFiles(static_dir).handle)
    return app


async def start_http(app: web.Application, listen: str) -> HttpPort:
    """Serves `app` on "host:port" (port 0 takes a free one); CannotListen
    when the address is taken or malformed."""
    host, port = _split(listen)
    # handler_cancellation: a browser that goes away cancels its handler, and
    # so the gRPC call it was forwarding (a stream waiting for alerts above all).
    runner = web.AppRunner(
        app, handler_cancellation=True, shutdown_timeout=SHUTDOWN_SECONDS, access_log=None
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except OSError as error:
        await runner.cleanup()
        why = IN_USE if error.errno == errno.EADDRINUSE else error.strerror
        raise CannotListen(f"cannot serve the dashboard on {listen}: {why}") from None
    bound = runner.addresses[0][1]
    log.info("dashboard at http://%s:%d/", host or "0.0.0.0", bound)
    return HttpPort(runner, bound)


def check_dashboard_free(listen: str) -> None:
    """CannotListen, naming CRONSTREAM_HTTP_LISTEN, when `listen` is taken."""
    _split(listen)
    try:
        check_free(listen, reuse_port=False)
    except CannotListen:
        raise CannotListen(f"cannot serve the dashboard on {listen}: {IN_USE}") from None


def _split(listen: str) -> tuple[str | None, int]:
    host, colon, port = listen.rpartition(":")
    if not colon or not port.isdigit():
        raise CannotListen(f"CRONSTREAM_HTTP_LISTEN: {listen!r} is not host:port")
    return (host.removeprefix("[").removesuffix("]") or None), int(port)
