"""A burst of 10,000 TriggerEvent calls: batched writes, nothing dropped or doubled."""

from __future__ import annotations

import asyncio

from cronstream.v1 import event_pb2, job_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.store.tables import event_deliveries, job_executions
from sqlalchemy import func, select

from tests.conftest import Live, Tenant

EVENTS = 10_000
REPEATED = 200  # calls that reuse an earlier request id


async def test_ten_thousand_events_make_exactly_their_executions(
    live: Live, tenant: Tenant
) -> None:
    s, auth = live.scheduler, tenant.auth
    await s.CreateEventHandler(
        pb.CreateEventHandlerRequest(
            event_handler=event_pb2.EventHandler(event_name="order.paid", handler_name="invoice")
        ),
        metadata=auth,
    )
    job = job_pb2.Job(
        name="audit", handler_name="audit", event=job_pb2.EventTrigger(event_name="order.paid")
    )
    created = (await s.CreateJob(pb.CreateJobRequest(job=job), metadata=auth)).job
    gate = asyncio.Semaphore(250)

    async def trigger(request_id: str) -> list[str]:
        async with gate:
            response = await s.TriggerEvent(
                pb.TriggerEventRequest(event_name="order.paid", request_id=request_id),
                metadata=auth,
            )
            return list(response.execution_ids)

    request_ids = [f"order-{i}" for i in range(EVENTS)] + [f"order-{i}" for i in range(REPEATED)]
    answers = await asyncio.gather(*(trigger(r) for r in request_ids))

    first, repeats = answers[:EVENTS], answers[EVENTS:]
    assert all(len(ids) == 2 for ids in first)  # the handler and the event job
    assert repeats == first[:REPEATED]  # a repeated request id answers the first call's ids
    every_id = [i for ids in first for i in ids]
    assert len(set(every_id)) == 2 * EVENTS
    async with live.running.engine.connect() as conn:
        stored = (await conn.execute(select(func.count()).select_from(job_executions))).scalar_one()
        keys = (await conn.execute(select(func.count()).select_from(event_deliveries))).scalar_one()
    assert (stored, keys) == (2 * EVENTS, EVENTS)
    job_now = (await s.GetJob(pb.GetJobRequest(id=created.id), metadata=auth)).job
    assert job_now.executions_count == EVENTS
