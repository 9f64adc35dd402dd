"""The HTTP port's own behaviour, over a bundle made here: files only (the
dashboard routes by fragment), the security headers on every kind of response,
a stream that ends when its browser leaves, and an address already taken."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.listen import CannotListen
from cronstream_server.web.app import HttpPort, build_app, check_dashboard_free, start_http
from cronstream_server.web.bridge import Bridge
from cronstream_server.web.security_headers import SECURITY_HEADERS

from tests.conftest import Live, Tenant
from tests.grpc_web import SCHEDULER, frame, headers

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
INDEX = "<!doctype html><script type=module src=/assets/app-1a2b.js></script>"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "app-1a2b.js").write_text("export {};\n")
    (tmp_path / ".env").write_text("SECRET=1\n")
    (tmp_path.parent / "outside.txt").write_text("not the bundle's\n")
    return tmp_path


@pytest.fixture
async def port(live: Live, bundle: Path) -> AsyncIterator[tuple[HttpPort, Bridge]]:
    bridge = Bridge(live.channel, 4 * 1024 * 1024)
    http = await start_http(build_app(bridge, {"traceUrl": None}, bundle), "127.0.0.1:0")
    try:
        yield http, bridge
    finally:
        await http.close()


@pytest.fixture
async def browser(port: tuple[HttpPort, Bridge]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port[0].port}") as client:
        yield client


def _assert_secured(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CSP
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name


async def test_index_assets_and_bridge_replies_carry_the_security_headers(
    browser: httpx.AsyncClient, tenant: Tenant
) -> None:
    index = await browser.get("/")
    assert (index.status_code, index.text) == (200, INDEX)
    assert index.headers["content-type"].startswith("text/html")
    assert index.headers["cache-control"] == "no-store"
    asset = await browser.get("/assets/app-1a2b.js")
    assert (asset.status_code, asset.text) == (200, "export {};\n")
    assert asset.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    bridged = await browser.post(
        SCHEDULER + "ListJobs", content=frame(pb.ListJobsRequest()), headers=headers(tenant.secret)
    )
    missing = await browser.get("/jobs/123")
    for response in (index, asset, bridged, missing):
        _assert_secured(response)


async def test_only_the_bundle_s_files_are_served(browser: httpx.AsyncClient) -> None:
    # Fragment routing: no fallback to index.html for a path that is not a file.
    for path in ("/jobs/123", "/assets/", "/.env", "/assets/../.env", "/%2e%2e/outside.txt"):
        response = await browser.get(path)
        assert response.status_code == 404, path
        assert "SECRET" not in response.text and "bundle's" not in response.text
    assert (await browser.get("/index.html")).status_code == 200
    assert (await browser.put("/index.html")).status_code == 405


async def test_a_stream_ends_when_its_browser_leaves(
    port: tuple[HttpPort, Bridge], browser: httpx.AsyncClient, tenant: Tenant
) -> None:
    bridge = port[1]
    request = frame(pb.WatchAlertsRequest())
    async with browser.stream(
        "POST", SCHEDULER + "WatchAlerts", content=request, headers=headers(tenant.secret)
    ) as response:
        await asyncio.wait_for(anext(response.aiter_bytes()), 5)
        assert bridge.open_streams == 1
    await browser.aclose()  # the connection goes, as when a tab closes
    for _ in range(50):
        if bridge.open_streams == 0:
            break
        await asyncio.sleep(0.1)
    assert bridge.open_streams == 0


async def test_a_taken_address_stops_the_start_naming_the_setting(
    port: tuple[HttpPort, Bridge], live: Live
) -> None:
    taken = f"127.0.0.1:{port[0].port}"
    with pytest.raises(CannotListen, match="CRONSTREAM_HTTP_LISTEN"):
        check_dashboard_free(taken)
    with socket.socket() as holder:  # a listener that does not share its port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        address = f"127.0.0.1:{holder.getsockname()[1]}"
        with pytest.raises(CannotListen, match=f"cannot serve the dashboard on {address}"):
            await start_http(build_app(Bridge(live.channel, 1024), {}), address)
