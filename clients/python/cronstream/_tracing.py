"""Client spans for the calls, when opentelemetry-instrumentation-grpc is installed.

An optional import: the client requires only opentelemetry-api. With the
instrumentation, each call gets a CLIENT span and carries the caller's
`traceparent`, so the server's span (and a job's firings, which link to the
trace that created the job) follow on from the caller's trace.
"""

from __future__ import annotations

from grpc import aio

# A worker's stream lasts hours and carries executions with traces of their
# own (each assignment's `traceparent`): one span for it would be as long as
# the connection and parent nothing. The server leaves it untraced too.
_UNTRACED = ("cronstream.v1.WorkerService/",)


def traced(method: str | bytes) -> bool:
    """Whether a call of `method` ("/package.Service/Method") gets a span."""
    # grpc.aio hands some interceptors the method as bytes (grpc issue 31092).
    name = method.decode() if isinstance(method, bytes) else method
    return not name.lstrip("/").startswith(_UNTRACED)


def channel_interceptors() -> list[aio.ClientInterceptor]:
    """OpenTelemetry's client interceptors for a channel we make, or none:
    when the instrumentation is not installed, or when it already instruments
    every grpc.aio channel (`opentelemetry-instrument`, or an application's
    `GrpcAioInstrumentorClient().instrument()`), which would make each span twice."""
    try:
        from opentelemetry.instrumentation.grpc import (
            GrpcAioInstrumentorClient,
            aio_client_interceptors,
        )
    except ImportError:
        return []
    # Read, not constructed: constructing the (singleton) instrumentor would
    # reset the filter an application gave it.
    instrumentor = getattr(GrpcAioInstrumentorClient, "_instance", None)
    if instrumentor is not None and instrumentor.is_instrumented_by_opentelemetry:
        return []
    interceptors: list[aio.ClientInterceptor] = aio_client_interceptors(  # type: ignore[no-untyped-call]
        filter_=_filter
    )
    return interceptors


def _filter(details: aio.ClientCallDetails) -> bool:
    return traced(details.method)
