"""The spans of one firing, as a collector receives them over OTLP.

A real `cronstream serve` exports to a receiver in this test (over gRPC, and
over HTTP with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf); a Python worker in
this process exports its spans there too. The job is created inside a span of
the test's own, so CreateJob carries a traceparent. What arrives: the firing
is a trace of its own whose root links to the CreateJob span, and the
worker's `process` span is a child of the firing's `send` span.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cronstream import Client, Context, ExecutionStatus, Worker
from cronstream.models import Execution
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from tests.e2e.otlp_receiver import RECEIVERS, Collected, Received
from tests.e2e.processes import serving
from tests.e2e.test_docs import make_platform_key

ADMIN_KEY = "cs_admin_tracing_e2e"
HANDLER = "traced_e2e"
SERVER = "cronstream-e2e"
WORKER = "worker-e2e"
Kind = trace_pb2.Span.SpanKind
FINAL = {
    ExecutionStatus.SUCCESS,
    ExecutionStatus.FAILED,
    ExecutionStatus.TIMEOUT,
    ExecutionStatus.CANCELLED,
    ExecutionStatus.SKIPPED,
}

tracer = trace.get_tracer("tests.e2e.tracing")


def _worker_exporter(protocol: str, endpoint: str) -> SpanExporter:
    if protocol == "http/protobuf":
        return HttpExporter(endpoint=f"{endpoint}/v1/traces")
    return GrpcExporter(endpoint=endpoint, insecure=True)


async def _finished(client: Client, job_id: str) -> Execution:
    async with asyncio.timeout(30):
        while True:
            async for execution in client.list_executions(job_id=job_id):
                if execution.status in FINAL:
                    return execution
            await asyncio.sleep(0.1)


async def _arrived(collected: Collected, found: Callable[[list[Received]], bool]) -> list[Received]:
    """What the receiver holds once `found` says it is all there."""
    try:
        async with asyncio.timeout(15):
            while True:
                spans = collected.snapshot()
                if found(spans):
                    return spans
                await asyncio.sleep(0.1)
    except TimeoutError:
        got = [(s.service, s.name) for s in collected.snapshot()]
        raise AssertionError(f"spans received: {got}") from None


def _named(spans: list[Received], service: str, name: str) -> list[Received]:
    return [s for s in spans if s.service == service and s.name == name]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_a_firing_arrives_as_a_trace_of_its_own(tmp_path: Path, protocol: str) -> None:
    with RECEIVERS[protocol]() as (endpoint, collected):
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_SERVICE_NAME": SERVER,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        with serving(tmp_path, ADMIN_KEY, env) as server:
            api_key = make_platform_key(server.address, ADMIN_KEY, "tracing")
            provider = TracerProvider(resource=Resource.create({"service.name": WORKER}))
            provider.add_span_processor(SimpleSpanProcessor(_worker_exporter(protocol, endpoint)))
            worker = Worker(api_key=api_key, target=server.address, tracer_provider=provider)

            @worker.handler(HANDLER)
            async def traced(ctx: Context) -> dict[str, Any]:
                return {"traced": True}

            async with Client.connect(server.address, api_key) as client:
                with tracer.start_as_current_span("e2e: schedule a report") as caller:
                    job = await client.create_job(
                        name="traced",
                        handler=HANDLER,
                        once=datetime.now(UTC) + timedelta(seconds=1),
                    )
                running = asyncio.create_task(worker.run())
                try:
                    execution = await _finished(client, job.id)
                finally:
                    worker.stop()
                    await running
            assert execution.status is ExecutionStatus.SUCCESS, execution.error
            spans = await _arrived(
                collected,
                lambda spans: bool(
                    _named(spans, SERVER, "/cronstream.v1.SchedulerService/CreateJob")
                    and _named(spans, SERVER, f"send {HANDLER}")
                    and _named(spans, WORKER, f"process {HANDLER}")
                ),
            )
            provider.shutdown()
        assert "Traceback" not in server.log, server.log

    creating_trace = f"{caller.get_span_context().trace_id:032x}"
    (created,) = _named(spans, SERVER, "/cronstream.v1.SchedulerService/CreateJob")
    (fired,) = _named(spans, SERVER, f"send {HANDLER}")
    (handled,) = _named(spans, WORKER, f"process {HANDLER}")

    # The test's trace reached the server's CreateJob span (Client.connect
    # instruments its channel).
    assert created.trace_id == creating_trace and created.span.kind == Kind.SPAN_KIND_SERVER
    # The firing starts a new trace, linked to where the job was created.
    assert fired.trace_id != creating_trace and fired.parent_span_id == ""
    assert fired.links == [(created.trace_id, created.span_id)]
    assert fired.span.kind == Kind.SPAN_KIND_PRODUCER
    assert {
        k: fired.attributes.get(k)
        for k in (
            "messaging.system",
            "messaging.operation.type",
            "messaging.destination.name",
            "messaging.message.id",
            "cronstream.job.id",
            "cronstream.execution.trigger",
        )
    } == {
        "messaging.system": "cronstream",
        "messaging.operation.type": "send",
        "messaging.destination.name": HANDLER,
        "messaging.message.id": execution.id,
        "cronstream.job.id": job.id,
        "cronstream.execution.trigger": "schedule",
    }
    assert execution.trace_id == fired.trace_id
    # The worker's span is the firing's child.
    assert (handled.trace_id, handled.parent_span_id) == (fired.trace_id, fired.span_id)
    assert handled.span.kind == Kind.SPAN_KIND_CONSUMER
    assert handled.attributes["messaging.message.id"] == execution.id
