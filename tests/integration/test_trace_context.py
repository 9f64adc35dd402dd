"""A caller's trace continues into what its calls create."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cronstream.v1 import event_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.store.executions import SqlExecutionStore
from cronstream_server.store.jobs import SqlJobStore
from google.protobuf import field_mask_pb2
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tests.conftest import Live, Tenant
from tests.jobs import ts

tracer = trace.get_tracer("tests")


def _with_trace(auth: tuple[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return (*auth, *carrier.items())


async def test_create_run_and_trigger_carry_the_callers_trace(
    live: Live, tenant: Tenant, spans: InMemorySpanExporter
) -> None:
    s = live.scheduler
    with tracer.start_as_current_span("client operation") as client_span:
        trace_id = f"{client_span.get_span_context().trace_id:032x}"
        metadata = _with_trace(tenant.auth)
        run_at = datetime.now(UTC) + timedelta(days=1)
        job = (
            await s.CreateJob(
                pb.CreateJobRequest(
                    job=job_pb2.Job(
                        name="traced", handler_name="h", once=job_pb2.OnceTrigger(run_at=ts(run_at))
                    )
                ),
                metadata=metadata,
            )
        ).job
        manual = (await s.RunJob(pb.RunJobRequest(id=job.id), metadata=metadata)).execution
        await s.CreateEventHandler(
            pb.CreateEventHandlerRequest(
                event_handler=event_pb2.EventHandler(event_name="e", handler_name="h")
            ),
            metadata=tenant.auth,
        )
        (event_execution,) = (
            await s.TriggerEvent(pb.TriggerEventRequest(event_name="e"), metadata=metadata)
        ).execution_ids

    stored_job = await SqlJobStore(live.running.engine).get_job(tenant.platform.id, job.id)
    executions = SqlExecutionStore(live.running.engine)
    stored_run = await executions.get(tenant.platform.id, manual.id)
    stored_event = await executions.get(tenant.platform.id, event_execution)
    for carrier in (stored_job.trace, stored_run.trace, stored_event.trace):
        assert carrier is not None and carrier.traceparent.split("-")[1] == trace_id

    # The server's spans are children of the client's.
    server_spans = [sp for sp in spans.get_finished_spans() if sp.name.startswith("/cronstream.v1")]
    assert {sp.name for sp in server_spans} >= {
        "/cronstream.v1.SchedulerService/CreateJob",
        "/cronstream.v1.SchedulerService/RunJob",
        "/cronstream.v1.SchedulerService/TriggerEvent",
    }
    traced = [
        sp for sp in server_spans if sp.context.trace_id == client_span.get_span_context().trace_id
    ]
    assert len(traced) == 3
    assert all(
        sp.parent is not None and sp.parent.span_id == client_span.get_span_context().span_id
        for sp in traced
    )


async def test_update_job_keeps_the_updaters_trace_for_later_firings(
    live: Live, tenant: Tenant
) -> None:
    s = live.scheduler
    creator = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    updater = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    run_at = datetime.now(UTC) + timedelta(days=1)
    job = (
        await s.CreateJob(
            pb.CreateJobRequest(
                job=job_pb2.Job(
                    name="traced", handler_name="h", once=job_pb2.OnceTrigger(run_at=ts(run_at))
                )
            ),
            metadata=(*tenant.auth, ("traceparent", creator)),
        )
    ).job
    jobs = SqlJobStore(live.running.engine)

    async def stored_trace_id() -> str:
        stored = await jobs.get_job(tenant.platform.id, job.id)
        assert stored.trace is not None
        return stored.trace.traceparent.split("-")[1]

    assert await stored_trace_id() == creator.split("-")[1]
    rename = pb.UpdateJobRequest(
        job=job_pb2.Job(id=job.id, name="renamed"),
        update_mask=field_mask_pb2.FieldMask(paths=["name"]),
    )
    await s.UpdateJob(rename, metadata=(*tenant.auth, ("traceparent", updater)))
    assert await stored_trace_id() == updater.split("-")[1]
