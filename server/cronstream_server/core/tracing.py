"""Trace context as data: what links an execution to the call that caused it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TraceContext:
    """A W3C `traceparent` (and `tracestate`), kept with a job or an execution so
    that the worker's span continues the trace of the call that created it."""

    traceparent: str
    tracestate: str = ""
