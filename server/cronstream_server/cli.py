"""`cronstream serve | migrate | dev | platform | apikey`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence

from cronstream_server import devrun, migrate
from cronstream_server.config import Settings
from cronstream_server.core.tenancy import new_secret
from cronstream_server.listen import CannotListen, check_free
from cronstream_server.server import serve
from cronstream_server.store.admin import SqlAdminStore
from cronstream_server.store.database import create_engine
from cronstream_server.telemetry.logs import LogSettings, LogSettingsError, configure_logging
from cronstream_server.tls import TlsFilesError
from cronstream_server.web.app import check_dashboard_free


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cronstream", description=__doc__)
    parser.add_argument("--listen", help="gRPC address (CRONSTREAM_LISTEN)")
    parser.add_argument("--database-url", help="SQLAlchemy URL (CRONSTREAM_DATABASE_URL)")
    parser.add_argument("--redis-url", help="Redis for cross-replica signals")
    parser.add_argument(
        "--log-level",
        help="debug, info, warning, error or critical (CRONSTREAM_LOG_LEVEL; "
        "the flag wins; default info)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve gRPC until SIGTERM")
    serve_cmd.add_argument(
        "--migrate",
        action="store_true",
        help="migrate the database first (without it, serve refuses a schema older than its own)",
    )
    commands.add_parser("migrate", help="take the database schema to the newest version")
    commands.add_parser("dev", help="migrate, make the default platform and key, print, serve")
    platform = commands.add_parser("platform", help="create a platform").add_subparsers(
        dest="action", required=True
    )
    platform.add_parser("create").add_argument("name")
    apikey = commands.add_parser("apikey", help="create an API key").add_subparsers(
        dest="action", required=True
    )
    create_key = apikey.add_parser("create")
    create_key.add_argument("platform", help="platform name")
    create_key.add_argument("name", help="key name")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides = {
        "listen": args.listen,
        "database_url": args.database_url,
        "redis_url": args.redis_url,
    }
    return dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v})


def _run(coroutine: object) -> None:
    try:
        import uvloop

        uvloop.run(coroutine)  # type: ignore[arg-type]
    except ImportError:  # uvloop has no Windows build
        asyncio.run(coroutine)  # type: ignore[arg-type]


async def _create_platform(settings: Settings, name: str) -> None:
    engine = create_engine(settings.database_url)
    try:
        platform = await SqlAdminStore(engine).create_platform(name)
    finally:
        await engine.dispose()
    print(f"platform {platform.name} {platform.id}")  # noqa: T201


async def _create_key(settings: Settings, platform_name: str, name: str) -> None:
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


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        configure_logging(LogSettings.resolve(args.log_level, os.environ))
    except LogSettingsError as error:
        raise SystemExit(str(error)) from None
    settings = _settings(args)
    if args.command == "migrate" or (args.command in ("serve", "dev") and _migrates(args)):
        migrate.upgrade(settings.database_url)
    if args.command in ("serve", "dev"):
        try:
            if not _migrates(args):
                migrate.require_current(settings.database_url)
            _serve(args.command, settings)
        except (CannotListen, TlsFilesError, migrate.SchemaNotCurrent) as error:
            raise SystemExit(str(error)) from None
    elif args.command == "platform":
        asyncio.run(_create_platform(settings, args.name))
    elif args.command == "apikey":
        asyncio.run(_create_key(settings, args.platform, args.name))


def _serve(command: str, settings: Settings) -> None:
    if command == "dev":
        settings = devrun.dev_settings(settings)
    # The addresses are checked before `dev` prints that it is serving there.
    check_free(settings.listen, settings.reuse_port)
    if settings.metrics_listen is not None:
        check_free(settings.metrics_listen, reuse_port=False)
    if settings.http_listen is not None:
        check_dashboard_free(settings.http_listen)
    if command == "serve":
        if not settings.admin_key:
            logging.warning("CRONSTREAM_ADMIN_KEY is not set: AdminService refuses every call")
    else:
        keys = asyncio.run(devrun.ensure_default_platform(settings))
        print(devrun.banner(settings, keys), flush=True)  # noqa: T201
    _run(serve(settings))


def _migrates(args: argparse.Namespace) -> bool:
    return args.command == "dev" or bool(getattr(args, "migrate", False))


if __name__ == "__main__":
    main(sys.argv[1:])
