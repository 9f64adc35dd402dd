"""Which trace each dispatched attempt's span joins (engine.tracing over
core.tracing.lineage), and how it is named, without a server: a scheduled
firing starts a trace linked to the job's, its retries stay in it, a manual
run or an event delivery continues the caller's trace."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from cronstream_server.core import executions, jobs
from cronstream_server.core.dispatch import Pending, TraceStamp
from cronstream_server.core.enums import ExecutionTrigger, JobStatus, Priority
from cronstream_server.core.jobs import Job, JobSpec
from cronstream_server.core.tracing import TraceContext, first_attempt, lineage
from cronstream_server.core.triggers import IntervalTrigger
from cronstream_server.engine import tracing
from cronstream_server.engine.tracing import ExecutionTracer
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# The context of the call that created the job (or caused the run).
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
CALLER = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
# The span of an execution's first attempt, as stored with the execution.
FIRST_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
FIRST_SPAN = "00f067aa0ba902b7"


def pending(
    trigger: ExecutionTrigger,
    *,
    traceparent: str | None = CALLER,
    attempt: int = 1,
    first: tuple[str, str] | None = None,
    job_id: str | None = "job-1",
) -> Pending:
    return Pending(
        id="exec-1",
        platform_id="plat-1",
        job_id=job_id,
        handler_name="send_report",
        payload=None,
        priority=Priority.MEDIUM,
        scheduled_at=AT,
        due_at=AT,
        attempt=attempt,
        timeout=timedelta(minutes=5),
        trigger=trigger,
        trace_id=first[0] if first else None,
        span_id=first[1] if first else None,
        traceparent=traceparent,
        tracestate="vendor=1" if traceparent else None,
    )


@pytest.fixture
def recorded() -> tuple[ExecutionTracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return ExecutionTracer(provider.get_tracer("tests")), exporter


def _stamped(
    recorded: tuple[ExecutionTracer, InMemorySpanExporter], execution: Pending
) -> tuple[TraceStamp, ReadableSpan]:
    tracer, exporter = recorded
    stamp = tracer.stamp(execution)
    (span,) = exporter.get_finished_spans()
    return stamp, span


def _ids(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


def test_a_scheduled_firing_starts_a_new_trace_linked_to_the_jobs(
    recorded: tuple[ExecutionTracer, InMemorySpanExporter],
) -> None:
    stamp, span = _stamped(recorded, pending(ExecutionTrigger.SCHEDULE))
    trace_id, span_id = _ids(span)
    assert trace_id != CALLER_TRACE
    assert span.parent is None and stamp.parent_span_id is None
    (link,) = span.links
    assert (f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") == (
        CALLER_TRACE,
        CALLER_SPAN,
    )
    assert link.context.trace_state.get("vendor") == "1"
    # What is stored and sent is the new span, which the worker's span continues.
    assert (stamp.trace_id, stamp.span_id) == (trace_id, span_id)
    version, sent_trace, sent_span, flags = stamp.traceparent.split("-")
    assert (version, sent_trace, sent_span) == ("00", trace_id, span_id)
    assert int(flags, 16) & 1  # sampled (the SDK may set the "random" flag too)


def test_a_scheduled_firing_of_a_job_created_untraced_is_a_root_without_link(
    recorded: tuple[ExecutionTracer, InMemorySpanExporter],
) -> None:
    stamp, span = _stamped(recorded, pending(ExecutionTrigger.SCHEDULE, traceparent=None))
    assert span.parent is None and not span.links
    assert stamp.trace_id == _ids(span)[0]


def test_a_scheduled_firings_retry_is_a_child_of_its_first_attempt(
    recorded: tuple[ExecutionTracer, InMemorySpanExporter],
) -> None:
    retry = pending(ExecutionTrigger.SCHEDULE, attempt=2, first=(FIRST_TRACE, FIRST_SPAN))
    stamp, span = _stamped(recorded, retry)
    assert _ids(span)[0] == FIRST_TRACE
    assert span.parent is not None and f"{span.parent.span_id:016x}" == FIRST_SPAN
    assert not span.links  # the firing's root has it
    assert stamp.parent_span_id == FIRST_SPAN and stamp.trace_id == FIRST_TRACE


@pytest.mark.parametrize("trigger", [ExecutionTrigger.MANUAL, ExecutionTrigger.EVENT])
@pytest.mark.parametrize("attempt", [1, 2])
def test_a_manual_run_or_event_delivery_is_a_child_of_the_caller(
    recorded: tuple[ExecutionTracer, InMemorySpanExporter],
    trigger: ExecutionTrigger,
    attempt: int,
) -> None:
    first = (CALLER_TRACE, FIRST_SPAN) if attempt > 1 else None
    stamp, span = _stamped(recorded, pending(trigger, attempt=attempt, first=first))
    assert _ids(span)[0] == CALLER_TRACE
    assert span.parent is not None and f"{span.parent.span_id:016x}" == CALLER_SPAN
    assert not span.links
    assert stamp.parent_span_id == CALLER_SPAN


def test_a_manual_retry_without_a_callers_context_follows_its_first_attempt(
    recorded: tuple[ExecutionTracer, InMemorySpanExporter],
) -> None:
    retry = pending(
        ExecutionTrigger.MANUAL, traceparent=None, attempt=2, first=(FIRST_TRACE, FIRST_SPAN)
    )
    _, span = _stamped(recorded, retry)
    assert _ids(span)[0] == FIRST_TRACE
    assert span.parent is not None and f"{span.parent.span_id:016x}" == FIRST_SPAN


def test_the_span_follows_the_messaging_conventions(
    recorded: tuple[ExecutionTracer, InMemorySpanExporter],
) -> None:
    _, span = _stamped(recorded, pending(ExecutionTrigger.SCHEDULE, attempt=3))
    assert span.name == "send send_report" and span.kind is trace.SpanKind.PRODUCER
    assert dict(span.attributes or {}) == {
        "messaging.system": "cronstream",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": "send_report",
        "messaging.message.id": "exec-1",
        "cronstream.platform.id": "plat-1",
        "cronstream.job.id": "job-1",
        "cronstream.execution.trigger": "schedule",
        "cronstream.execution.attempt": 3,
        "cronstream.execution.scheduled_at": "2026-06-01T12:00:00+00:00",
    }


def test_an_event_handlers_delivery_has_no_job_id(
    recorded: tuple[ExecutionTracer, InMemorySpanExporter],
) -> None:
    _, span = _stamped(recorded, pending(ExecutionTrigger.EVENT, job_id=None))
    assert "cronstream.job.id" not in (span.attributes or {})


def test_a_malformed_stored_context_is_no_link(
    recorded: tuple[ExecutionTracer, InMemorySpanExporter],
) -> None:
    _, span = _stamped(recorded, pending(ExecutionTrigger.SCHEDULE, traceparent="00-nonsense"))
    assert span.parent is None and not span.links


def test_without_an_sdk_the_ids_are_made_up_along_the_same_lines() -> None:
    """The API's own tracer records nothing and invents no ids: the stamp
    still starts a new trace for a firing and stays in the caller's for a run."""
    tracer = ExecutionTracer(trace.NoOpTracer())
    fired = tracer.stamp(pending(ExecutionTrigger.SCHEDULE))
    assert fired.trace_id != CALLER_TRACE and fired.parent_span_id is None
    assert fired.traceparent == f"00-{fired.trace_id}-{fired.span_id}-01"
    run = tracer.stamp(pending(ExecutionTrigger.MANUAL))
    assert run.trace_id == CALLER_TRACE and run.span_id not in (CALLER_SPAN, "0" * 16)
    assert run.parent_span_id == CALLER_SPAN
    assert run.traceparent == f"00-{CALLER_TRACE}-{run.span_id}-01"
    assert run.tracestate == "vendor=1"


# --- the rule itself --------------------------------------------------------

JOBS = TraceContext(CALLER, "vendor=1")
FIRST = TraceContext(f"00-{FIRST_TRACE}-{FIRST_SPAN}-01")


@pytest.mark.parametrize(
    ("trigger", "stored", "first", "parent", "link"),
    [
        (ExecutionTrigger.SCHEDULE, JOBS, None, None, JOBS),
        (ExecutionTrigger.SCHEDULE, None, None, None, None),
        (ExecutionTrigger.SCHEDULE, JOBS, FIRST, FIRST, None),
        (ExecutionTrigger.MANUAL, JOBS, None, JOBS, None),
        (ExecutionTrigger.MANUAL, JOBS, FIRST, JOBS, None),
        (ExecutionTrigger.MANUAL, None, FIRST, FIRST, None),
        (ExecutionTrigger.EVENT, JOBS, FIRST, JOBS, None),
        (ExecutionTrigger.EVENT, None, None, None, None),
    ],
)
def test_lineage(
    trigger: ExecutionTrigger,
    stored: TraceContext | None,
    first: TraceContext | None,
    parent: TraceContext | None,
    link: TraceContext | None,
) -> None:
    joins = lineage(trigger, stored, first)
    assert (joins.parent, joins.link) == (parent, link)


def test_first_attempt_needs_both_ids() -> None:
    assert first_attempt(FIRST_TRACE, FIRST_SPAN) == FIRST
    assert first_attempt(FIRST_TRACE, None) is None
    assert first_attempt(None, FIRST_SPAN) is None


# --- what the job keeps for its firings to link to ----------------------------

UPDATER = TraceContext(f"00-{FIRST_TRACE}-{CALLER_SPAN}-01")


def _job() -> Job:
    spec = JobSpec(name="j", handler_name="h", trigger=IntervalTrigger(timedelta(minutes=1), AT))
    return Job("job-1", "plat-1", spec, JobStatus.ACTIVE, "k", AT, AT, next_run=AT, trace=JOBS)


@pytest.mark.parametrize("trigger_changed", [False, True])
def test_an_update_with_a_trace_is_what_later_firings_link_to(trigger_changed: bool) -> None:
    job = _job()
    spec = JobSpec(name="renamed", handler_name="h", trigger=job.spec.trigger)
    updated = jobs.reschedule(job, spec, trigger_changed, AT, UPDATER)
    assert updated.trace == UPDATER
    assert jobs.reschedule(job, spec, trigger_changed, AT, None).trace == JOBS
    fired = executions.for_job(updated, ExecutionTrigger.SCHEDULE, AT, AT)
    assert fired.trace == UPDATER


@pytest.mark.parametrize("trigger", [ExecutionTrigger.MANUAL, ExecutionTrigger.EVENT])
def test_a_run_or_delivery_keeps_the_callers_trace_never_the_jobs(
    trigger: ExecutionTrigger,
) -> None:
    assert executions.for_job(_job(), trigger, AT, AT, trace=FIRST).trace == FIRST
    # Without a caller's context, a trace of its own (lineage), not the job's.
    assert executions.for_job(_job(), trigger, AT, AT).trace is None


# --- without spans: made up directly, as the no-op tracer's path makes them ---


class _Counting:
    """Ids in sequence, so that two ways of making them up can be compared."""

    def __init__(self) -> None:
        self.next = 0x1000

    def generate_trace_id(self) -> int:
        self.next += 1
        return self.next << 64

    def generate_span_id(self) -> int:
        self.next += 1
        return self.next


class _NoOpSubclass(trace.NoOpTracer):
    """Behaves as the no-op tracer but is not it: stamped the general way."""


UNSAMPLED = f"00-{CALLER_TRACE}-{CALLER_SPAN}-00"


@pytest.mark.parametrize(
    "execution",
    [
        pending(ExecutionTrigger.SCHEDULE),
        pending(ExecutionTrigger.SCHEDULE, traceparent=None),
        pending(ExecutionTrigger.SCHEDULE, attempt=2, first=(FIRST_TRACE, FIRST_SPAN)),
        pending(ExecutionTrigger.BACKFILL),
        pending(ExecutionTrigger.MANUAL),
        pending(ExecutionTrigger.MANUAL, traceparent=UNSAMPLED),
        pending(
            ExecutionTrigger.MANUAL, traceparent=None, attempt=2, first=(FIRST_TRACE, FIRST_SPAN)
        ),
        pending(ExecutionTrigger.EVENT, attempt=2, first=(CALLER_TRACE, FIRST_SPAN)),
        pending(ExecutionTrigger.EVENT, traceparent="00-nonsense"),
        pending(ExecutionTrigger.EVENT, traceparent=None),
    ],
)
def test_without_spans_the_stamp_is_the_one_the_no_op_tracer_gives(
    execution: Pending, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracing, "_IDS", _Counting())
    direct = ExecutionTracer(trace.NoOpTracer()).stamp(execution)
    monkeypatch.setattr(tracing, "_IDS", _Counting())
    general = ExecutionTracer(_NoOpSubclass()).stamp(execution)
    assert direct == general


@pytest.mark.parametrize("trigger", list(ExecutionTrigger))
def test_without_spans_the_ids_are_valid_and_the_parents_context_is_kept(
    trigger: ExecutionTrigger,
) -> None:
    stamp = ExecutionTracer(trace.NoOpTracer()).stamp(pending(trigger, traceparent=UNSAMPLED))
    assert re.fullmatch("[0-9a-f]{32}", stamp.trace_id) and int(stamp.trace_id, 16)
    assert re.fullmatch("[0-9a-f]{16}", stamp.span_id) and int(stamp.span_id, 16)
    if trigger in (ExecutionTrigger.SCHEDULE, ExecutionTrigger.BACKFILL):
        assert stamp.parent_span_id is None and stamp.tracestate == ""
        assert stamp.traceparent == f"00-{stamp.trace_id}-{stamp.span_id}-01"
    else:  # the caller's trace, flags (here: not sampled) and tracestate
        assert stamp.parent_span_id == CALLER_SPAN and stamp.tracestate == "vendor=1"
        assert stamp.traceparent == f"00-{CALLER_TRACE}-{stamp.span_id}-00"


def test_a_provider_installed_after_the_tracer_was_made_gets_the_spans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server's tracer is made from the global provider, which may be
    installed later (telemetry.tracing): until then the API hands out a proxy."""
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    tracer = ExecutionTracer(trace.ProxyTracer("cronstream.dispatch"))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    before = tracer.stamp(pending(ExecutionTrigger.MANUAL))
    assert before.trace_id == CALLER_TRACE and not exporter.get_finished_spans()
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    after = tracer.stamp(pending(ExecutionTrigger.MANUAL))
    (span,) = exporter.get_finished_spans()
    assert (after.trace_id, after.span_id) == _ids(span)
