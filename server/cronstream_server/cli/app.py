"""The `cronstream` command: its root options and its command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cronstream_server.cli import alerts, executions, job_controls, jobs, server_commands, workers
from cronstream_server.cli.context import DEFAULT_ADDRESS, Globals, ServerFlags, Target

app = typer.Typer(
    name="cronstream",
    help="Cronstream: run the server, or steer its jobs over gRPC.\n\n"
    "Client commands call CRONSTREAM_ADDRESS with the key CRONSTREAM_API_KEY.",
    no_args_is_help=True,
    add_completion=False,
    # A server's traceback is plain text for its logs, not a Rich panel.
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_SERVER = "Server options"
_CLIENT = "Client options"


@app.callback()
def root(
    ctx: typer.Context,
    listen: Annotated[
        str | None,
        typer.Option(help="gRPC address to serve (CRONSTREAM_LISTEN).", rich_help_panel=_SERVER),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL (CRONSTREAM_DATABASE_URL).", rich_help_panel=_SERVER),
    ] = None,
    redis_url: Annotated[
        str | None, typer.Option(help="Redis for cross-replica signals.", rich_help_panel=_SERVER)
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            help="debug, info, warning, error or critical (CRONSTREAM_LOG_LEVEL; "
            "the flag wins; default info).",
            rich_help_panel=_SERVER,
        ),
    ] = None,
    address: Annotated[
        str,
        typer.Option(
            envvar="CRONSTREAM_ADDRESS", help="The server to call.", rich_help_panel=_CLIENT
        ),
    ] = DEFAULT_ADDRESS,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="CRONSTREAM_API_KEY",
            help="A platform's API key.",
            show_default=False,
            rich_help_panel=_CLIENT,
        ),
    ] = None,
    platform: Annotated[
        str | None,
        typer.Option(
            envvar="CRONSTREAM_PLATFORM",
            help="With the admin key: the id of the platform to act for.",
            show_default=False,
            rich_help_panel=_CLIENT,
        ),
    ] = None,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls",
            envvar="CRONSTREAM_TLS",
            help="Call over TLS, trusting the system's roots.",
            rich_help_panel=_CLIENT,
        ),
    ] = False,
    tls_ca: Annotated[
        Path | None,
        typer.Option(
            envvar="CRONSTREAM_TLS_CA",
            help="Call over TLS, trusting this PEM bundle (implies --tls).",
            rich_help_panel=_CLIENT,
        ),
    ] = None,
) -> None:
    ctx.obj = Globals(
        ServerFlags(listen, database_url, redis_url, log_level),
        Target(address, api_key or None, platform or None, tls or tls_ca is not None, tls_ca),
    )


server_commands.register(app)
app.add_typer(jobs.app, name="jobs")
job_controls.register(jobs.app)
app.add_typer(executions.app, name="executions")
app.add_typer(alerts.app, name="alerts")
app.add_typer(workers.app, name="workers")
