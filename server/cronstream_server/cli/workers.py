"""`cronstream workers list`."""

from __future__ import annotations

from typing import Annotated

import typer
from cronstream import Client
from cronstream.models import ConnectedWorker

from cronstream_server.cli.connection import call
from cronstream_server.cli.options import Limit, take
from cronstream_server.cli.output import (
    Output,
    OutputOption,
    as_json,
    example,
    print_json,
    print_table,
    when,
)

app = typer.Typer(help="List the workers connected to the cluster.", no_args_is_help=True)


@app.command("list", epilog=example("cronstream workers list --handler send_report"))
def list_workers(
    ctx: typer.Context,
    handler: Annotated[str, typer.Option(help="Only workers that run this handler.")] = "",
    limit: Limit = 100,
    output: OutputOption = Output.TABLE,
) -> None:
    """List the worker streams open on any replica, by worker id.

    Each replica reports its streams every few seconds: slots in use and the
    last message seen may be that old."""

    async def work(client: Client) -> list[ConnectedWorker]:
        return await take(client.list_workers(handler or None, page_size=min(limit, 1000)), limit)

    workers = call(ctx, work)
    if output is Output.JSON:
        print_json([as_json(w.proto) for w in workers])
        return
    columns = ("WORKER", "SESSION", "HANDLERS", "SLOTS IN USE", "CONNECTED", "LAST SEEN", "REPLICA")
    print_table(columns, (_worker_row(w) for w in workers))


def _worker_row(w: ConnectedWorker) -> tuple[str, ...]:
    return (
        w.worker_id,
        w.session_id,
        ", ".join(w.handler_names),
        f"{w.slots_in_use} of {w.slots}",
        when(w.connected_at),
        when(w.last_seen),
        w.replica,
    )
