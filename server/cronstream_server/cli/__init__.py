"""`cronstream`: the server's commands (serve, migrate, dev, platform,
apikey) and the client's (jobs, executions, alerts, workers) over gRPC.
docs/cli.md describes every command and the exit codes."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    from cronstream_server.cli.app import app

    app(args=list(argv) if argv is not None else None, prog_name="cronstream")


__all__ = ["main"]
