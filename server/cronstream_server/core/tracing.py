"""Trace context as data: what links an execution to the call that caused it,
and which trace each attempt of an execution belongs to."""

from __future__ import annotations

from cronstream_server.core.enums import ExecutionTrigger
from cronstream_server.core.values import value_type


@value_type
class TraceContext:
    """A W3C `traceparent` (and `tracestate`), kept with a job or an execution:
    the call that created or last updated the job, or the call that caused a
    manual run or an event delivery."""

    traceparent: str
    tracestate: str = ""


@value_type
class Lineage:
    """Where an attempt's span goes: under `parent` (None: it starts a trace
    of its own), with a span link to `link` (None: no link)."""

    parent: TraceContext | None
    link: TraceContext | None = None


def first_attempt(trace_id: str | None, span_id: str | None) -> TraceContext | None:
    """The span of an execution's first attempt (the ids stored with it), as
    a context to continue; sampled, as the first attempt was sent."""
    if not trace_id or not span_id:
        return None
    return TraceContext(f"00-{trace_id}-{span_id}-01")


def lineage(
    trigger: ExecutionTrigger, stored: TraceContext | None, first: TraceContext | None
) -> Lineage:
    """Which trace an attempt's span joins, given the execution's stored
    context (`stored`) and its first attempt's span (`first`, None before the
    first attempt).

    A scheduled firing starts a trace of its own, linked to the job's trace:
    as a child of the job's call, a job that fires every second for a year
    would make one endless trace. A backfilled one likewise, linked to the
    BackfillJob call's (as children of it, 100,000 would make one trace).
    Its later attempts stay in the firing's trace, under its first attempt's
    span. A manual run or an event delivery continues the trace of the call
    that caused it, every attempt under that call's span (under the first
    attempt's when the call carried no context).
    """
    if trigger in (ExecutionTrigger.SCHEDULE, ExecutionTrigger.BACKFILL):
        if first is not None:
            return Lineage(parent=first)
        return Lineage(parent=None, link=stored)
    return Lineage(parent=stored or first)
