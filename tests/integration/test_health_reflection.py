"""Health and reflection answer without credentials, so grpcurl and probes work."""

from __future__ import annotations

from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

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
