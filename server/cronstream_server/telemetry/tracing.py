"""OpenTelemetry set-up: export spans when an OTLP endpoint is configured.

The standard variables work (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`,
`OTEL_TRACES_SAMPLER`...), `OTEL_EXPORTER_OTLP_PROTOCOL` (or its `_TRACES_`
form) among them: `grpc`, the default, or `http/protobuf`. Without an endpoint
nothing is exported, but trace context still flows: incoming `traceparent`
headers are continued and handed on to workers, so a caller's trace reaches
the worker's handler span either way.
"""

from __future__ import annotations

import logging
import os

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

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
    protocol = otlp_protocol()
    exporter = _exporter(protocol)
    service = os.environ.get("OTEL_SERVICE_NAME", "cronstream")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    log.info("exporting traces over OTLP (%s) as %s", protocol, service)
    return provider


# What the OpenTelemetry SDK's exporters speak. The specification's third,
# http/json, has no Python exporter.
PROTOCOLS = ("grpc", "http/protobuf")


def otlp_protocol() -> str:
    """The OTLP protocol the environment asks for: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    else OTEL_EXPORTER_OTLP_PROTOCOL, else grpc. The specification's default
    is http/protobuf, but Cronstream exported over gRPC before either was
    read, and an endpoint set for that (port 4317) must keep working."""
    chosen = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    if chosen not in PROTOCOLS:
        # Sending to an endpoint in a protocol it does not speak loses every span quietly.
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {chosen!r} is not supported; use one of "
            + ", ".join(PROTOCOLS)
        )
    return chosen


def _exporter(protocol: str) -> SpanExporter:
    """The OTLP exporter for `protocol`; it reads its endpoint, headers,
    timeout and TLS settings from the environment itself."""
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )

    return GrpcExporter()


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
    "cronstream.v1.SchedulerService/WatchAlerts",
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
