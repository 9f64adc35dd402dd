"""The root options every command sees: the server's flags for the server
commands, the address, key and TLS of the client commands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

#: Where `make run` (and `cronstream serve` by default) listens.
DEFAULT_ADDRESS = "127.0.0.1:50051"


@dataclass(frozen=True, slots=True)
class ServerFlags:
    """`--listen`, `--database-url`, `--redis-url`, `--log-level`: each wins
    over its environment variable when given."""

    listen: str | None = None
    database_url: str | None = None
    redis_url: str | None = None
    log_level: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """The server a client command calls, and as whom."""

    address: str = DEFAULT_ADDRESS
    api_key: str | None = None
    #: With the admin key as `api_key`: the id of the platform it acts for.
    platform: str | None = None
    #: TLS with the system's roots (or `ca_file`'s); plaintext otherwise.
    tls: bool = False
    ca_file: Path | None = None


@dataclass(frozen=True, slots=True)
class Globals:
    server: ServerFlags
    target: Target


def _globals(ctx: typer.Context) -> Globals:
    found = ctx.find_root().obj
    if not isinstance(found, Globals):  # only a command run without the root callback
        return Globals(ServerFlags(), Target())
    return found


def server_flags(ctx: typer.Context) -> ServerFlags:
    return _globals(ctx).server


def target(ctx: typer.Context) -> Target:
    return _globals(ctx).target
