"""A span per dispatched attempt, and the W3C trace context its worker continues.

The span is the send of a message (the attempt) to a destination (the
handler), named and described after OpenTelemetry's messaging conventions:
"send <handler>", kind PRODUCER, `messaging.*` attributes, and `cronstream.*`
ones for what they have no name for. Which trace it joins is core.tracing's
`lineage`: a scheduled firing's first attempt is the root of a new trace,
linked to the trace that created or last updated the job; a later attempt is
a child of the first attempt's span; a manual run or an event delivery is a
child of the span of the call that caused it.

When no OpenTelemetry SDK is configured the API's tracer records nothing and
invents no ids, yet the execution still needs ids to store and a context to
send: we then make them up with the SDK's id generator (sampled, unless the
parent said otherwise, so a tracing worker records its side). That is the
case to be cheap in (a server without telemetry): the stamp is then made up
directly, without the attributes, the no-op span and the propagator's inject,
which were three quarters of its cost.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    Link,
    NonRecordingSpan,
    NoOpTracer,
    ProxyTracer,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
    format_span_id,
    format_trace_id,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from cronstream_server.core.dispatch import Pending, TraceStamp
from cronstream_server.core.tracing import Lineage, TraceContext, first_attempt, lineage

_PROPAGATOR = TraceContextTextMapPropagator()
_IDS = RandomIdGenerator()
# messaging.system: not one of the conventions' well-known values, so our name.
SYSTEM = "cronstream"
OPERATION = "send"


class ExecutionTracer:
    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        self._tracer = tracer or trace.get_tracer("cronstream.dispatch")

    def stamp(self, execution: Pending) -> TraceStamp:
        """The attempt's ids and the context to send: those of its span, started
        and ended, when the tracer makes spans; made up alike when it does not."""
        stored = (
            TraceContext(execution.traceparent, execution.tracestate or "")
            if execution.traceparent
            else None
        )
        joins = lineage(
            execution.trigger, stored, first_attempt(execution.trace_id, execution.span_id)
        )
        if _no_op(self._tracer):
            return _made_up_stamp(joins.parent)
        return self._traced(execution, joins)

    def _traced(self, execution: Pending, joins: Lineage) -> TraceStamp:
        parent_context = _context(joins.parent)
        parent = trace.get_current_span(parent_context).get_span_context()
        linked = trace.get_current_span(_context(joins.link)).get_span_context()
        span = self._tracer.start_span(
            f"{OPERATION} {execution.handler_name}",
            context=parent_context,
            kind=SpanKind.PRODUCER,
            attributes=attributes(execution),
            links=[Link(linked)] if linked.is_valid else None,
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


def _no_op(tracer: trace.Tracer) -> bool:
    """Whether `tracer` is the API's no-op one, which makes no spans of its own.

    Asked per stamp: the tracer made before a provider was installed
    (telemetry.tracing installs one at start-up, when configured) is a proxy,
    which stands for the no-op tracer until then and for the provider's after.
    A subclass might make spans: only the no-op class itself counts."""
    if isinstance(tracer, ProxyTracer):
        # The API has no public way to ask a proxy what it stands for. Should
        # this private property go, the proxy is stamped the general way.
        tracer = getattr(tracer, "_tracer", tracer)
    return type(tracer) is NoOpTracer


def _made_up_stamp(parent_carried: TraceContext | None) -> TraceStamp:
    """What `_traced` comes to with the no-op tracer (whose span is invalid,
    or the parent's own, so that `_made_up` ids are sent), made directly."""
    parent = (
        INVALID_SPAN_CONTEXT
        if parent_carried is None
        else trace.get_current_span(_context(parent_carried)).get_span_context()
    )
    own = _made_up(parent)
    trace_id, span_id = format_trace_id(own.trace_id), format_span_id(own.span_id)
    return TraceStamp(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=format_span_id(parent.span_id) if parent.is_valid else None,
        # What the W3C propagator injects for `own`.
        traceparent=f"00-{trace_id}-{span_id}-{own.trace_flags:02x}",
        tracestate=own.trace_state.to_header() if own.trace_state else "",
    )


def attributes(execution: Pending) -> dict[str, AttributeValue]:
    """The span's attributes: the messaging conventions' where they fit (one
    execution is the message, whatever its attempt), ours for the rest."""
    found: dict[str, AttributeValue] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": OPERATION,
        "messaging.operation.name": OPERATION,
        "messaging.destination.name": execution.handler_name,
        "messaging.message.id": execution.id,
        "cronstream.platform.id": execution.platform_id,
        "cronstream.execution.trigger": execution.trigger.value,
        "cronstream.execution.attempt": execution.attempt,
        "cronstream.execution.scheduled_at": execution.scheduled_at.isoformat(),
    }
    if execution.job_id is not None:
        found["cronstream.job.id"] = execution.job_id
    return found


def _context(carried: TraceContext | None) -> Context:
    """The context `carried` names; an empty one for None or a malformed one."""
    if carried is None:
        return Context()
    carrier = {"traceparent": carried.traceparent}
    if carried.tracestate:
        carrier["tracestate"] = carried.tracestate
    return _PROPAGATOR.extract(carrier, context=Context())


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
