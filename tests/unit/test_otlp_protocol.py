"""Which OTLP protocol the server exports in, from the standard variables."""

from __future__ import annotations

import pytest
from cronstream_server.telemetry.tracing import _exporter, otlp_protocol
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter


@pytest.mark.parametrize(
    ("general", "traces", "expected"),
    [
        (None, None, "grpc"),  # as before either variable was read
        ("http/protobuf", None, "http/protobuf"),
        ("grpc", None, "grpc"),
        ("grpc", "http/protobuf", "http/protobuf"),  # the signal's own variable wins
        ("http/protobuf", "grpc", "grpc"),
        (None, " http/protobuf ", "http/protobuf"),
    ],
)
def test_the_traces_variable_wins_over_the_general_one(
    monkeypatch: pytest.MonkeyPatch, general: str | None, traces: str | None, expected: str
) -> None:
    for name, value in [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", general),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", traces),
    ]:
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert otlp_protocol() == expected


@pytest.mark.parametrize("value", ["http/json", "http", "GRPC"])
def test_a_protocol_we_cannot_speak_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", value)
    with pytest.raises(ValueError, match="grpc, http/protobuf"):
        otlp_protocol()


def test_each_protocol_gets_its_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    http = _exporter("http/protobuf")
    grpc = _exporter("grpc")
    try:
        assert isinstance(http, HttpExporter) and isinstance(grpc, GrpcExporter)
        # The HTTP exporter puts the signal's path after the general endpoint.
        assert http._endpoint == "http://127.0.0.1:1/v1/traces"
    finally:
        http.shutdown()
        grpc.shutdown()
