"""The settings for listening: sharing the port and the client CA."""

from __future__ import annotations

from pathlib import Path

import pytest
from cronstream_server.config import Settings
from cronstream_server.listen import socket_options


def test_the_port_is_not_shared_unless_asked() -> None:
    assert Settings.from_env({}).reuse_port is False
    assert socket_options(Settings.from_env({}).reuse_port) == [("grpc.so_reuseport", 0)]


@pytest.mark.parametrize(
    ("value", "shared"), [("1", True), ("true", True), ("0", False), ("", False)]
)
def test_cronstream_reuse_port(value: str, shared: bool) -> None:
    settings = Settings.from_env({"CRONSTREAM_REUSE_PORT": value})
    assert settings.reuse_port is shared
    assert socket_options(settings.reuse_port) == [("grpc.so_reuseport", int(shared))]


def test_cronstream_tls_client_ca() -> None:
    assert Settings.from_env({}).tls_client_ca is None
    settings = Settings.from_env({"CRONSTREAM_TLS_CLIENT_CA": "/etc/cronstream/clients.pem"})
    assert settings.tls_client_ca == Path("/etc/cronstream/clients.pem")
