"""Which calls get a server span: every call but health, reflection and the
worker stream (hours-long streams; see telemetry.tracing)."""

from __future__ import annotations

import pytest
from cronstream_server.telemetry.tracing import traced


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("/cronstream.v1.SchedulerService/CreateJob", True),
        ("/cronstream.v1.AdminService/RevokeApiKey", True),
        ("/cronstream.v1.WorkerService/Connect", False),
        ("/grpc.health.v1.Health/Watch", False),
        ("/grpc.health.v1.Health/Check", False),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", False),
    ],
)
def test_traced(method: str, expected: bool) -> None:
    assert traced(method) is expected
