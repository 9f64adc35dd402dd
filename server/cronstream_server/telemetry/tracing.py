"""OpenTelemetry set-up: export spans when an OTLP endpoint is configured.

The standard variables work (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`,
`OTEL_TRACES_SAMPLER`...). Without an endpoint nothing is exported, but trace
context still flows: incoming `traceparent` headers are continued and handed on
to workers, so a caller's trace reaches the worker's handler span either way.
"""

from __future__ import annotations

import logging
import os

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

log = logging.getLogger(__name__)


def configure_tracing() -> TracerProvider | None:
    """Installs an exporting tracer provider when the environment asks for one
    and none was installed by the embedding program (tests install their own)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return None
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and not os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        return None
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    service = os.environ.get("OTEL_SERVICE_NAME", "cronstream")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    log.info("exporting traces over OTLP as %s", service)
    return provider


# Calls left untraced. Health probes every second would bury real traces.
# Streams that last (a worker's session, a reflection session) would make
# spans hours long, and the aio interceptor keeps its context attached across
# the stream's yields: when gRPC abandons a stream's generator (its call
# cancelled during a write), the generator is closed later in another context,
# where the detach fails ("Failed to detach context" logged at ERROR). It also
# cannot wrap grpc-health's `Watch`, a coroutine, not a generator. A worker
# stream's executions carry their own traces (engine.tracing).
UNTRACED = (
    "grpc.health.v1.Health",
    "grpc.reflection.",
    "cronstream.v1.WorkerService",
)


def traced(method: str) -> bool:
    """Whether a call of `method` ("/package.Service/Method") gets a span."""
    return not method.lstrip("/").startswith(UNTRACED)


def grpc_server_interceptor() -> grpc.aio.ServerInterceptor:
    """Spans for every call, continuing the caller's `traceparent`, but for
    the UNTRACED ones."""
    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        filter_=lambda details: traced(details.method)
    )
    return interceptor
