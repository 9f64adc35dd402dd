"""`cronstream alerts list | watch`."""

from __future__ import annotations

from typing import Annotated

import typer
from cronstream import Alert, AlertEvent, Client
from cronstream.models import AlertState, HealthState
from rich.text import Text

from cronstream_server.cli.choices import AlertStateName, HealthName
from cronstream_server.cli.connection import call
from cronstream_server.cli.options import Limit, many, take
from cronstream_server.cli.output import (
    Output,
    OutputOption,
    as_json,
    errors,
    example,
    name_of,
    out,
    print_json,
    print_table,
    when,
)

app = typer.Typer(help="List and watch alerts.", no_args_is_help=True)


@app.command("list", epilog=example("cronstream alerts list --state open"))
def list_alerts(
    ctx: typer.Context,
    kind: Annotated[
        list[HealthName], many("Only these kinds: late, missed, overrunning, failing.")
    ],
    state: Annotated[list[AlertStateName], many("Only open or resolved ones.")],
    job: Annotated[str, typer.Option(help="Only this job's.")] = "",
    limit: Limit = 50,
    output: OutputOption = Output.TABLE,
) -> None:
    """List alerts, the most recently opened first."""

    async def work(client: Client) -> list[Alert]:
        found = client.list_alerts(
            job_id=job,
            kinds=[HealthState[k.name] for k in kind],
            states=[AlertState[s.name] for s in state],
            page_size=min(limit, 1000),
        )
        return await take(found, limit)

    alerts = call(ctx, work)
    if output is Output.JSON:
        print_json([as_json(a.proto) for a in alerts])
        return
    columns = ("ID", "JOB", "KIND", "STATE", "OPENED", "RESOLVED", "REASON")
    print_table(columns, (_alert_row(a) for a in alerts))


def _alert_row(a: Alert) -> tuple[str, ...]:
    return (
        a.id,
        a.job_name or a.job_id,
        name_of(a.kind),
        name_of(a.state),
        when(a.opened_at),
        when(a.resolved_at),
        a.reason,
    )


@app.command("watch", epilog=example("cronstream alerts watch --output json"))
def watch(
    ctx: typer.Context,
    after_cursor: Annotated[
        int,
        typer.Option(min=0, help="Replay the events after this cursor first (0: from now)."),
    ] = 0,
    output: OutputOption = Output.TABLE,
) -> None:
    """Print alert events as they happen, until Ctrl-C (which exits 0).

    The stream reconnects by itself; JSON prints one event a line."""

    async def work(client: Client) -> None:
        async with client.watch_alerts(after_cursor=after_cursor) as events:
            errors().print("watching alerts (Ctrl-C to stop)")
            async for event in events:
                _print_event(event, output)

    call(ctx, work, interrupt_ends_cleanly=True)


def _print_event(event: AlertEvent, output: Output) -> None:
    if output is Output.JSON:
        print_json(as_json(event.proto))
        return
    alert = event.alert
    at = alert.resolved_at if alert.resolved_at else alert.opened_at
    line = Text.assemble(
        (when(at), "dim"),
        f" #{event.cursor} ",
        (name_of(event.type), "bold"),
        f" {name_of(alert.kind)} {alert.job_name} ({alert.job_id}): {alert.reason}",
    )
    out().print(line, soft_wrap=True)
