"""Running a client command's calls: a `cronstream.Client` to the root
options' target for the length of one event loop, its errors turned into exit
codes (`exits`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
import typer
from cronstream import Client
from cronstream.errors import CronstreamError, UnauthenticatedError

from cronstream_server.cli import exits
from cronstream_server.cli.context import Target, target
from cronstream_server.cli.output import errors

_T = TypeVar("_T")


def call(
    ctx: typer.Context,
    work: Callable[[Client], Awaitable[_T]],
    *,
    interrupt_ends_cleanly: bool = False,
) -> _T:
    """`work(client)` run to its end, and its result. A failed call prints
    its status and exits with its code; Ctrl-C exits 130, or 0 with
    `interrupt_ends_cleanly` (a watch or a tail, which only Ctrl-C ends)."""
    chosen = target(ctx)
    try:
        return asyncio.run(_with_client(chosen, work))
    except CronstreamError as error:
        code = exits.report(error, errors())
        if isinstance(error, UnauthenticatedError) and not chosen.api_key:
            errors().print("  no API key given: set CRONSTREAM_API_KEY or pass --api-key")
        raise typer.Exit(code) from None
    except KeyboardInterrupt:
        raise typer.Exit(exits.OK if interrupt_ends_cleanly else exits.INTERRUPTED) from None


async def _with_client(chosen: Target, work: Callable[[Client], Awaitable[_T]]) -> _T:
    credentials = _credentials(chosen)
    connecting = Client.connect(
        chosen.address, chosen.api_key, tls=credentials, platform=chosen.platform
    )
    async with connecting as client:
        return await work(client)


def _credentials(chosen: Target) -> bool | grpc.ChannelCredentials:
    if chosen.ca_file is not None:
        try:
            roots = chosen.ca_file.read_bytes()
        except OSError as error:
            raise typer.BadParameter(str(error), param_hint="--tls-ca") from None
        return grpc.ssl_channel_credentials(root_certificates=roots)
    return chosen.tls
