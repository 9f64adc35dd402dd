"""The HTTP port's own behaviour, over a bundle made here: files only (the
dashboard routes by fragment), the security headers on every kind of response,
a stream that ends when its browser leaves, and an address already taken."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.listen import CannotListen
from cronstream_server.web.app import HttpPort, build_app, check_dashboard_free, start_http
from cronstream_server.web.bridge import Bridge
from cronstream_server.web.security_headers import SECURITY_HEADERS

from tests.conftest import Live, Tenant
from tests.grpc_web import SCHEDULER, call, frame, headers

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


async def test_unary_calls_beyond_the_bound_wait_their_turn(bundle: Path) -> None:
    # A gRPC server of our own whose GetMetrics holds until released, counting
    # how many run at once: the bridge must forward two at a time, no more.
    running, most, release = 0, 0, asyncio.Event()

    async def held(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        return b""

    handler = grpc.method_handlers_generic_handler(
        "cronstream.v1.SchedulerService", {"GetMetrics": grpc.unary_unary_rpc_method_handler(held)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    http = await start_http(
        build_app(Bridge(channel, 1024, calls_in_flight=2), {}, bundle), "127.0.0.1:0"
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.port}") as client:
            calls = [
                asyncio.create_task(
                    call(client, SCHEDULER + "GetMetrics", pb.GetMetricsRequest(), "k")
                )
                for _ in range(6)
            ]
            await asyncio.sleep(0.5)
            assert (running, most) == (2, 2)
            release.set()
            replies = await asyncio.gather(*calls)
        assert [reply.code for reply in replies] == [0] * 6 and most == 2
    finally:
        await http.close()
        await channel.close()
        await server.stop(None)


async def test_a_turn_rests_as_long_as_its_call_took_before_the_next_call(
    bundle: Path,
) -> None:
    # With one turn and half the time for calls, a call of 0.2 s is followed
    # by 0.2 s in which no other call starts: a burst cannot keep the server
    # busy back to back. (A slow machine only widens the gaps.)
    starts: list[float] = []
    ends: list[float] = []

    async def slow(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        starts.append(time.monotonic())
        await asyncio.sleep(0.2)
        ends.append(time.monotonic())
        return b""

    handler = grpc.method_handlers_generic_handler(
        "cronstream.v1.SchedulerService", {"GetMetrics": grpc.unary_unary_rpc_method_handler(slow)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    bridge = Bridge(channel, 1024, calls_in_flight=1, call_share=0.5)
    http = await start_http(build_app(bridge, {}, bundle), "127.0.0.1:0")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.port}") as client:
            replies = await asyncio.gather(
                *(
                    call(client, SCHEDULER + "GetMetrics", pb.GetMetricsRequest(), "k")
                    for _ in range(3)
                )
            )
        assert [reply.code for reply in replies] == [0, 0, 0]
        gaps = [start - end for start, end in zip(starts[1:], ends[:-1], strict=True)]
        assert len(gaps) == 2 and min(gaps) >= 0.19, gaps
    finally:
        await http.close()
        await channel.close()
        await server.stop(None)
