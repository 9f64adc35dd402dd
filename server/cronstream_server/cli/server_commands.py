"""`cronstream serve | migrate | dev | platform create | apikey create`: the
commands that run the server or reach its database directly (not over gRPC).

The server's modules are imported inside each command, so the client
commands start without loading SQLAlchemy, OpenTelemetry and the rest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cronstream_server.cli.context import ServerFlags, server_flags
from cronstream_server.cli.output import example

if TYPE_CHECKING:
    from cronstream_server.config import Settings


def register(app: typer.Typer) -> None:
    app.command("serve", epilog=example("cronstream serve --migrate"))(serve)
    app.command("migrate", epilog=example("cronstream migrate"))(migrate)
    app.command("dev", epilog=example("cronstream dev"))(dev)
    platform = typer.Typer(help="Create a platform (on the database, without gRPC).")
    platform.command("create", epilog=example("cronstream platform create billing"))(
        create_platform
    )
    app.add_typer(platform, name="platform")
    apikey = typer.Typer(help="Create an API key (on the database, without gRPC).")
    apikey.command("create", epilog=example("cronstream apikey create billing ci"))(create_key)
    app.add_typer(apikey, name="apikey")


def serve(
    ctx: typer.Context,
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate",
            help="Migrate the database first (without it, serve refuses a schema older "
            "than its own).",
        ),
    ] = False,
) -> None:
    """Serve gRPC until SIGTERM."""
    settings = _configured(server_flags(ctx))
    _serve_after_migrating("serve", settings, migrate)


def migrate(ctx: typer.Context) -> None:
    """Take the database schema to the newest version."""
    from cronstream_server import migrate as migrations

    migrations.upgrade(_configured(server_flags(ctx)).database_url)


def dev(ctx: typer.Context) -> None:
    """Migrate, make the default platform and key, print them, serve."""
    _serve_after_migrating("dev", _configured(server_flags(ctx)), migrate=True)


def create_platform(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The platform's name.", metavar="NAME")],
) -> None:
    """Create a platform on the configured database."""
    asyncio.run(_create_platform(_configured(server_flags(ctx)), name))


def create_key(
    ctx: typer.Context,
    platform: Annotated[str, typer.Argument(help="The platform's name.", metavar="PLATFORM")],
    name: Annotated[str, typer.Argument(help="The key's name.", metavar="KEY_NAME")],
) -> None:
    """Create an API key of a platform; its secret is printed once."""
    asyncio.run(_create_key(_configured(server_flags(ctx)), platform, name))


def _configured(flags: ServerFlags) -> Settings:
    """Logging configured and the settings: the environment, then the flags."""
    from cronstream_server.config import Settings
    from cronstream_server.telemetry.logs import LogSettings, LogSettingsError, configure_logging

    try:
        configure_logging(LogSettings.resolve(flags.log_level, os.environ))
    except LogSettingsError as error:
        raise SystemExit(str(error)) from None
    settings = Settings.from_env()
    return dataclasses.replace(
        settings,
        listen=flags.listen or settings.listen,
        database_url=flags.database_url or settings.database_url,
        redis_url=flags.redis_url or settings.redis_url,
    )


def _serve_after_migrating(command: str, settings: Settings, migrate: bool) -> None:
    from cronstream_server import migrate as migrations
    from cronstream_server.listen import CannotListen
    from cronstream_server.tls import TlsFilesError

    if migrate:
        migrations.upgrade(settings.database_url)
    try:
        if not migrate:
            migrations.require_current(settings.database_url)
        _serve(command, settings)
    except (CannotListen, TlsFilesError, migrations.SchemaNotCurrent) as error:
        raise SystemExit(str(error)) from None


def _serve(command: str, settings: Settings) -> None:
    from cronstream_server import devrun
    from cronstream_server.listen import check_free
    from cronstream_server.server import serve

    if command == "dev":
        settings = devrun.dev_settings(settings)
    # The addresses are checked before `dev` prints that it is serving there.
    check_free(settings.listen, settings.reuse_port)
    if settings.metrics_listen is not None:
        check_free(settings.metrics_listen, reuse_port=False)
    if settings.http_listen is not None:
        from cronstream_server.web.app import check_dashboard_free

        check_dashboard_free(settings.http_listen)
    if command == "serve":
        if not settings.admin_key:
            logging.warning("CRONSTREAM_ADMIN_KEY is not set: AdminService refuses every call")
    else:
        keys = asyncio.run(devrun.ensure_default_platform(settings))
        print(devrun.banner(settings, keys), flush=True)  # noqa: T201
    _run_served(serve(settings))


def _run_served(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop

        uvloop.run(coroutine)
    except ImportError:  # uvloop has no Windows build
        asyncio.run(coroutine)


async def _create_platform(settings: Settings, name: str) -> None:
    from cronstream_server.store.admin import SqlAdminStore
    from cronstream_server.store.database import create_engine

    engine = create_engine(settings.database_url)
    try:
        platform = await SqlAdminStore(engine).create_platform(name)
    finally:
        await engine.dispose()
    print(f"platform {platform.name} {platform.id}")  # noqa: T201


async def _create_key(settings: Settings, platform_name: str, name: str) -> None:
    from cronstream_server.core.tenancy import new_secret
    from cronstream_server.store.admin import SqlAdminStore
    from cronstream_server.store.database import create_engine

    engine = create_engine(settings.database_url)
    try:
        store = SqlAdminStore(engine)
        platform = await store.find_platform_by_name(platform_name)
        if platform is None:
            raise SystemExit(f"no platform named {platform_name!r}")
        secret = new_secret()
        key = await store.create_api_key(platform.id, name, secret)
    finally:
        await engine.dispose()
    print(f"api key {key.name} {key.id}\nsecret (shown once): {secret.secret}")  # noqa: T201
