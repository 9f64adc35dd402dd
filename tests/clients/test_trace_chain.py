"""From the caller's CreateJob to the worker's handler span.

`Client.connect` instruments its channel (opentelemetry-instrumentation-grpc
is installed here), so the caller's trace reaches the server's CreateJob span,
whose context is kept with the job. The firing is a trace of its own: the
dispatcher's `send <handler>` span is its root, linked to that CreateJob span,
and the Python worker's `process <handler>` span is its child.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cronstream import Client, Context
from cronstream.v1 import execution_pb2
from opentelemetry import trace
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
    assert child.context is not None and parent.context is not None
    return (
        child.parent is not None
        and child.parent.span_id == parent.context.span_id
        and child.context.trace_id == parent.context.trace_id
    )


async def test_the_firing_is_a_trace_of_its_own_linked_to_the_callers(
    live: Live, tenant: Tenant, spans: InMemorySpanExporter
) -> None:
    client = Client.connect(live.address, tenant.secret)
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
    fired = _one(recorded, "send traced")
    handled = _one(recorded, "process traced")
    assert _is_child(client_call, caller)
    assert _is_child(server_call, client_call)

    assert fired.parent is None and fired.kind is trace.SpanKind.PRODUCER
    assert fired.context is not None and caller.context is not None
    assert fired.context.trace_id != caller.context.trace_id
    (link,) = fired.links
    assert server_call.context is not None
    assert (link.context.trace_id, link.context.span_id) == (
        server_call.context.trace_id,
        server_call.context.span_id,
    )
    assert _is_child(handled, fired) and handled.kind is trace.SpanKind.CONSUMER
    assert execution.trace_id == f"{fired.context.trace_id:032x}"
    # The worker's hours-long stream gets no span of its own.
    assert not [s for s in recorded if "WorkerService" in s.name]
