"""`/metrics` over HTTP, on prometheus_client's own server (a daemon thread)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from cronstream_server.listen import CannotListen

log = logging.getLogger(__name__)


@dataclass
class MetricsEndpoint:
    server: WSGIServer
    port: int

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_metrics(registry: CollectorRegistry, listen: str) -> MetricsEndpoint:
    """Serves the registry at http://<listen>/metrics ("host:port"; port 0
    takes a free one)."""
    host, colon, port = listen.rpartition(":")
    if not colon or not port.isdigit():
        raise CannotListen(f"CRONSTREAM_METRICS_LISTEN: {listen!r} is not host:port")
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
    try:
        server, _ = start_http_server(int(port), host, registry=registry)
    except OSError as error:
        raise CannotListen(f"cannot serve metrics on {listen}: {error.strerror}") from None
    endpoint = MetricsEndpoint(server, server.server_port)
    log.info("metrics at http://%s:%d/metrics", host, endpoint.port)
    return endpoint
