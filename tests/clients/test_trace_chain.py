"""One trace from the caller's CreateJob to the worker's handler span.

The caller's channel is instrumented with opentelemetry-instrumentation-grpc,
the server continues the trace in its CreateJob span and keeps that context with
the job; the ticker's execution, the dispatcher's `cronstream.execute` span and
the Python worker's `cronstream.handle` span all follow on, in one trace.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from cronstream import Client, Context
from cronstream.v1 import execution_pb2
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.clients.test_python_worker import finished, live_worker, running
from tests.conftest import Live, Tenant

tracer = trace.get_tracer("tests.trace_chain")


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def _is_child(child: ReadableSpan, parent: ReadableSpan) -> bool:
    return (
        child.parent is not None
        and child.parent.span_id == parent.context.span_id
        and child.context.trace_id == parent.context.trace_id
    )


async def test_the_callers_trace_reaches_the_handler(
    live: Live, tenant: Tenant, spans: InMemorySpanExporter
) -> None:
    channel = grpc.aio.insecure_channel(live.address, interceptors=aio_client_interceptors())  # type: ignore[no-untyped-call]
    client = Client(channel, tenant.secret, owns_channel=True)
    worker = live_worker(live, tenant)

    @worker.handler("traced")
    async def traced(ctx: Context) -> dict[str, Any]:
        return {"traced": True}

    with tracer.start_as_current_span("caller: schedule a report"):
        job = await client.create_job(
            name="traced", handler="traced", once=datetime.now(UTC) + timedelta(seconds=0.5)
        )
    async with running(worker):
        execution = await finished(client, job.id)
    await client.close()
    assert execution.status == execution_pb2.EXECUTION_STATUS_SUCCESS, execution.error

    recorded = list(spans.get_finished_spans())
    caller = _one(recorded, "caller: schedule a report")
    calls = [s for s in recorded if s.name == "/cronstream.v1.SchedulerService/CreateJob"]
    client_call = next(s for s in calls if s.kind is trace.SpanKind.CLIENT)
    server_call = next(s for s in calls if s.kind is trace.SpanKind.SERVER)
    dispatched = _one(recorded, "cronstream.execute traced")
    handled = _one(recorded, "cronstream.handle traced")
    assert _is_child(client_call, caller)
    assert _is_child(server_call, client_call)
    assert _is_child(dispatched, server_call)
    assert _is_child(handled, dispatched)
    assert execution.trace_id == f"{caller.context.trace_id:032x}"
