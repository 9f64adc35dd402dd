"""The HTTP port's settings: off unless set under `serve`, on at 127.0.0.1:8080 under `dev`."""

from __future__ import annotations

import pytest
from cronstream_server import devrun
from cronstream_server.config import Settings


def test_the_http_port_is_off_unless_set() -> None:
    assert Settings.from_env({}).http_listen is None
    listen = {"CRONSTREAM_HTTP_LISTEN": "0.0.0.0:8081"}
    assert Settings.from_env(listen).http_listen == "0.0.0.0:8081"


def test_make_run_serves_the_dashboard_on_8080_unless_told() -> None:
    # An admin key given: dev_settings has none to make and keep.
    assert devrun.dev_settings(Settings(admin_key="a")).http_listen == "127.0.0.1:8080"
    told = Settings(admin_key="a", http_listen="127.0.0.1:9090")
    assert devrun.dev_settings(told).http_listen == "127.0.0.1:9090"


def test_the_banner_prints_the_dashboard_s_address() -> None:
    keys = devrun.DevKeys(admin_key="a", platform_id="p", api_key="k")
    printed = devrun.banner(Settings(http_listen="127.0.0.1:8080"), keys).splitlines()
    assert "  dashboard     http://127.0.0.1:8080/" in printed
    assert not any("dashboard" in line for line in devrun.banner(Settings(), keys).splitlines())


def test_a_trace_url_must_say_where_the_trace_id_goes() -> None:
    template = "http://localhost:16686/trace/{trace_id}"
    assert Settings.from_env({"CRONSTREAM_TRACE_URL": template}).trace_url == template
    assert Settings.from_env({}).trace_url is None
    for wrong in ("http://localhost:16686/trace/", "javascript:alert(1)//{trace_id}"):
        with pytest.raises(ValueError, match="CRONSTREAM_TRACE_URL"):
            Settings.from_env({"CRONSTREAM_TRACE_URL": wrong})
