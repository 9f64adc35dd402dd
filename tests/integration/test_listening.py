"""Taking the listening address: an address in use is refused, in words,
unless sharing it was asked for (listen.py); gRPC alone would share it."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from cronstream_server.config import Settings
from cronstream_server.listen import IN_USE, IN_USE_UNSHARED, CannotListen, bind, socket_options
from cronstream_server.server import start

from tests import databases


@pytest.fixture
def taken() -> Iterator[int]:
    """A port another process (a plain socket here) listens on, at 127.0.0.1."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.fixture
async def servers() -> AsyncIterator[list[grpc.aio.Server]]:
    """gRPC servers made by a test, stopped after it."""
    made: list[grpc.aio.Server] = []
    yield made
    for server in made:
        await server.stop(None)


def new_server(servers: list[grpc.aio.Server], reuse_port: bool) -> grpc.aio.Server:
    server = grpc.aio.server(options=socket_options(reuse_port))
    servers.append(server)
    return server


async def test_an_address_in_use_is_refused_with_what_to_do(
    taken: int, servers: list[grpc.aio.Server]
) -> None:
    address = f"127.0.0.1:{taken}"
    with pytest.raises(CannotListen) as raised:
        bind(new_server(servers, reuse_port=False), address, None, reuse_port=False)
    assert str(raised.value) == f"cannot listen on {address}: {IN_USE}"
    assert "set CRONSTREAM_LISTEN, or CRONSTREAM_REUSE_PORT=1" in str(raised.value)


async def test_a_name_with_one_of_its_addresses_in_use_is_refused(
    taken: int, servers: list[grpc.aio.Server]
) -> None:
    # gRPC alone binds what is free of localhost's 127.0.0.1 and ::1 and starts.
    with pytest.raises(CannotListen, match="the address is in use"):
        bind(new_server(servers, reuse_port=False), f"localhost:{taken}", None, reuse_port=False)


async def test_servers_that_both_ask_to_share_an_address_share_it(
    servers: list[grpc.aio.Server],
) -> None:
    first = new_server(servers, reuse_port=True)
    port = bind(first, "127.0.0.1:0", None, reuse_port=True)
    await first.start()
    second = new_server(servers, reuse_port=True)
    assert bind(second, f"127.0.0.1:{port}", None, reuse_port=True) == port
    await second.start()

    alone = new_server(servers, reuse_port=False)
    with pytest.raises(CannotListen, match=re.escape(IN_USE)):
        bind(alone, f"127.0.0.1:{port}", None, reuse_port=False)


async def test_sharing_with_a_process_that_does_not_share_is_refused(
    taken: int, servers: list[grpc.aio.Server]
) -> None:
    with pytest.raises(CannotListen) as raised:
        bind(new_server(servers, reuse_port=True), f"127.0.0.1:{taken}", None, reuse_port=True)
    assert str(raised.value).endswith(IN_USE_UNSHARED)


async def test_an_address_not_of_this_machine_says_so(servers: list[grpc.aio.Server]) -> None:
    # 192.0.2.0/24 is TEST-NET-1: never a local address.
    with pytest.raises(CannotListen, match="cannot listen on 192.0.2.1:50051: .*address"):
        bind(new_server(servers, reuse_port=False), "192.0.2.1:50051", None, reuse_port=False)


async def test_the_server_refuses_to_start_on_an_address_in_use(
    taken: int, sqlite_template: Path, tmp_path: Path
) -> None:
    settings = Settings(
        listen=f"127.0.0.1:{taken}", database_url=databases.sqlite_copy(sqlite_template, tmp_path)
    )
    with pytest.raises(CannotListen, match=re.escape(IN_USE)):
        await start(settings)
