"""The Python client's channels get OpenTelemetry's client interceptors when
opentelemetry-instrumentation-grpc is importable, and never twice."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from cronstream import _tracing
from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("/cronstream.v1.SchedulerService/CreateJob", True),
        (b"/cronstream.v1.SchedulerService/RunJob", True),
        ("/cronstream.v1.AdminService/CreatePlatform", True),
        ("/cronstream.v1.WorkerService/Connect", False),
        (b"/cronstream.v1.WorkerService/Connect", False),
    ],
)
def test_every_call_but_the_worker_stream_is_traced(method: str | bytes, expected: bool) -> None:
    assert _tracing.traced(method) is expected


def test_installed_instrumentation_gives_one_interceptor_per_call_kind() -> None:
    assert len(_tracing.channel_interceptors()) == 4


def test_without_the_instrumentation_there_are_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.grpc", None)
    assert _tracing.channel_interceptors() == []


def test_none_when_every_aio_channel_is_instrumented_already(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instrumented = SimpleNamespace(is_instrumented_by_opentelemetry=True)
    monkeypatch.setattr(GrpcAioInstrumentorClient, "_instance", instrumented)
    assert _tracing.channel_interceptors() == []
