"""`python -m cronstream_server.http_process`: the HTTP port's process.

Composed of the read server (read_server.py), which answers the dashboard's
reads from the database, and the HTTP port (web/child.py), which serves the
dashboard and bridges its calls. The server starts it (web/process.py) with the
read server's settings in the environment, under the names the server reads
them by (a database URL may hold a password: never on the command line).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping

from cronstream_server.config import Settings
from cronstream_server.read_server import ReadSettings, start_read_server
from cronstream_server.telemetry.logs import LogSettings, LogSettingsError, configure_logging
from cronstream_server.telemetry.tracing import configure_tracing
from cronstream_server.web.child import parser, serve

# When the machine is short of CPU, the firings come first and the pages wait:
# a burst of 1,000 page loads (its reads answered here) made W2's p99 1.6-3.1x
# its quiet windows at nice 10, 1.8-3.5x at nice 0; SCHED_IDLE did no better
# than nice 10 and would starve the pages on a busy machine (docs/benchmarks.md).
NICENESS = 10


def read_environment(settings: Settings) -> dict[str, str]:
    """What the server passes its HTTP port's process for the read server."""
    return {
        "CRONSTREAM_DATABASE_URL": settings.database_url,
        # Always set, empty for none: the port's process must not take an admin
        # key from the environment it inherits that the server itself does not.
        "CRONSTREAM_ADMIN_KEY": settings.admin_key or "",
        "CRONSTREAM_MAX_PAYLOAD_BYTES": str(settings.max_payload_bytes),
        "CRONSTREAM_QUOTA_CALLS_PER_SECOND": str(settings.quotas.calls_per_second),
    }


def read_settings(env: Mapping[str, str], max_message_bytes: int) -> ReadSettings:
    """The read server's settings from `read_environment`'s variables."""
    return ReadSettings(
        database_url=env["CRONSTREAM_DATABASE_URL"],
        admin_key=env.get("CRONSTREAM_ADMIN_KEY") or None,
        max_message_bytes=max_message_bytes,
        max_payload_bytes=int(env["CRONSTREAM_MAX_PAYLOAD_BYTES"]),
        calls_per_second=float(env["CRONSTREAM_QUOTA_CALLS_PER_SECOND"]),
    )


async def run(args: argparse.Namespace) -> int:
    tracing = configure_tracing()
    reads = await start_read_server(read_settings(os.environ, args.max_message_bytes))
    try:
        return await serve(args, reads.address)
    finally:
        await reads.close()
        if tracing is not None:
            tracing.shutdown()


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    # Before any thread starts, so that every thread of the process has it.
    os.nice(NICENESS)
    try:
        configure_logging(LogSettings.resolve(args.log_level, os.environ))
    except LogSettingsError:  # the parent checked them: its own defaults then
        configure_logging(LogSettings())
    try:
        import uvloop
    except ImportError:  # uvloop has no Windows build
        sys.exit(asyncio.run(run(args)))
    sys.exit(uvloop.run(run(args)))


if __name__ == "__main__":  # imported (as by a check that every module imports), it does nothing
    main()
