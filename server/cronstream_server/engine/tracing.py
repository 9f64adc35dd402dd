"""A span per dispatched attempt, and the W3C trace context its worker continues.

The span ("cronstream.execute <handler>", kind PRODUCER) is a child of the
context stored on the execution (`traceparent`/`tracestate`, when the client
that created it sent one); failing that, of the span of the execution's
first attempt, so all attempts share one trace; failing that, a new root.

When no OpenTelemetry SDK is configured the API's tracer records nothing and
invents no ids, yet the execution still needs ids to store and a context to
send: we then make them up with the SDK's id generator (sampled, unless the
parent said otherwise, so a tracing worker records its side).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
    format_span_id,
    format_trace_id,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from cronstream_server.core.dispatch import Pending, TraceStamp

_PROPAGATOR = TraceContextTextMapPropagator()
_IDS = RandomIdGenerator()


class ExecutionTracer:
    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        self._tracer = tracer or trace.get_tracer("cronstream.dispatch")

    def stamp(self, execution: Pending) -> TraceStamp:
        """Starts and ends the attempt's span; returns the ids and context."""
        parent_context = _parent(execution)
        parent = trace.get_current_span(parent_context).get_span_context()
        span = self._tracer.start_span(
            f"cronstream.execute {execution.handler_name}",
            context=parent_context,
            kind=SpanKind.PRODUCER,
            attributes={
                "cronstream.execution.id": execution.id,
                "cronstream.execution.attempt": execution.attempt,
                "cronstream.handler.name": execution.handler_name,
            },
        )
        span.end()
        sent: Span = span
        own = span.get_span_context()
        if not own.is_valid or (parent.is_valid and own.span_id == parent.span_id):
            own = _made_up(parent)
            sent = NonRecordingSpan(own)
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(sent))
        return TraceStamp(
            trace_id=format_trace_id(own.trace_id),
            span_id=format_span_id(own.span_id),
            parent_span_id=format_span_id(parent.span_id) if parent.is_valid else None,
            traceparent=carrier.get("traceparent", ""),
            tracestate=carrier.get("tracestate", ""),
        )


def _parent(execution: Pending) -> Context:
    if execution.traceparent:
        carrier = {"traceparent": execution.traceparent}
        if execution.tracestate:
            carrier["tracestate"] = execution.tracestate
        return _PROPAGATOR.extract(carrier, context=Context())
    if execution.trace_id and execution.span_id:
        try:
            first = SpanContext(
                trace_id=int(execution.trace_id, 16),
                span_id=int(execution.span_id, 16),
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
        except ValueError:
            return Context()
        return trace.set_span_in_context(NonRecordingSpan(first), Context())
    return Context()


def _made_up(parent: SpanContext) -> SpanContext:
    if parent.is_valid:
        return SpanContext(
            trace_id=parent.trace_id,
            span_id=_IDS.generate_span_id(),
            is_remote=False,
            trace_flags=parent.trace_flags,
            trace_state=parent.trace_state,
        )
    return SpanContext(
        trace_id=_IDS.generate_trace_id(),
        span_id=_IDS.generate_span_id(),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
