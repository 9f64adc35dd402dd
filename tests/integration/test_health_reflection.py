"""Health and reflection answer without credentials, so grpcurl and probes work."""

from __future__ import annotations

import asyncio
from typing import Any

from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from sqlalchemy import event

from tests.conftest import Live


async def test_health_is_serving_for_the_server_and_each_service(live: Live) -> None:
    stub = health_pb2_grpc.HealthStub(live.channel)
    for service in [
        "",
        "cronstream.v1.SchedulerService",
        "cronstream.v1.WorkerService",
        "cronstream.v1.AdminService",
    ]:
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING, service


async def test_reflection_lists_the_three_services(live: Live) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(live.channel)
    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    response = await call.read()
    await call.done_writing()
    names = {s.name for s in response.list_services_response.service}
    assert {
        "cronstream.v1.SchedulerService",
        "cronstream.v1.WorkerService",
        "cronstream.v1.AdminService",
        "grpc.health.v1.Health",
    } <= names


async def test_watch_streams_the_serving_status(live: Live) -> None:
    stub = health_pb2_grpc.HealthStub(live.channel)
    call = stub.Watch(health_pb2.HealthCheckRequest(service=""))
    first = await asyncio.wait_for(call.read(), 5.0)
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    call.cancel()


async def test_health_follows_the_database(live: Live) -> None:
    # Every statement fails as on a database that went away; then it is back.
    def unreachable(*_: Any) -> None:
        raise ConnectionRefusedError("injected: the database is unreachable")

    stub = health_pb2_grpc.HealthStub(live.channel)
    watch = stub.Watch(health_pb2.HealthCheckRequest(service="cronstream.v1.SchedulerService"))
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    engine = live.running.engine.sync_engine
    event.listen(engine, "before_cursor_execute", unreachable)
    try:
        changed = await asyncio.wait_for(watch.read(), 5.0)  # the watch probes every second
        assert changed.status == health_pb2.HealthCheckResponse.NOT_SERVING
        check = await stub.Check(health_pb2.HealthCheckRequest(service=""))
        assert check.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        event.remove(engine, "before_cursor_execute", unreachable)
    back = await asyncio.wait_for(watch.read(), 5.0)
    assert back.status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()
