"""The W3C trace context of the call being served, to hand on to what it creates."""

from __future__ import annotations

from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from cronstream_server.core.tracing import TraceContext

_PROPAGATOR = TraceContextTextMapPropagator()


def current_trace_context() -> TraceContext | None:
    """The active span's context as `traceparent`/`tracestate`, or None outside a trace."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    traceparent = carrier.get("traceparent")
    if not traceparent:
        return None
    return TraceContext(traceparent, carrier.get("tracestate", ""))
