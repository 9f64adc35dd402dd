"""`cronstream executions list | get | logs [--follow] | retry | cancel`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

import typer
from cronstream import Client, Execution, LogLine
from cronstream.models import ExecutionStatus
from rich.text import Text

from cronstream_server.cli.choices import ExecutionStatusName
from cronstream_server.cli.connection import call
from cronstream_server.cli.options import Limit, many, take
from cronstream_server.cli.output import (
    Output,
    OutputOption,
    as_json,
    compact_json,
    example,
    name_of,
    out,
    print_json,
    print_record,
    print_table,
    span,
    when,
)

app = typer.Typer(
    help="List executions, read their logs, retry or cancel them.", no_args_is_help=True
)

ExecutionId = Annotated[
    str, typer.Argument(help="The execution's id.", metavar="EXECUTION_ID", show_default=False)
]

_LEVEL_STYLES = {"DEBUG": "dim", "INFO": "", "WARN": "yellow", "ERROR": "bold red"}


def print_execution(execution: Execution, output: Output) -> None:
    if output is Output.JSON:
        print_json(as_json(execution.proto))
        return
    rows = [
        ("id", execution.id),
        ("job", execution.job_id),
        ("event handler", execution.event_handler_id),
        ("handler", execution.handler_name),
        ("status", name_of(execution.status)),
        ("trigger", name_of(execution.trigger)),
        ("attempt", f"{execution.attempt} of {execution.max_retries + 1}"),
        ("worker", execution.worker_id),
        ("scheduled", when(execution.scheduled_at)),
        ("due", when(execution.due_at)),
        ("started", when(execution.started_at)),
        ("lease expires", when(execution.lease_expires_at)),
        ("completed", when(execution.completed_at)),
        ("duration", span(execution.duration)),
        ("next retry", when(execution.next_retry_at)),
        ("waiting for", ", ".join(execution.waiting_for)),
        ("error", execution.error),
        ("payload", compact_json(execution.payload)),
        ("result", "" if execution.result is None else compact_json(execution.result)),
        ("trace id", execution.trace_id),
    ]
    print_record((name, value) for name, value in rows if value)


def print_executions(executions: Iterable[Execution], output: Output) -> None:
    if output is Output.JSON:
        print_json([as_json(e.proto) for e in executions])
        return
    columns = ("ID", "JOB", "HANDLER", "STATUS", "TRIGGER", "ATTEMPT", "SCHEDULED", "DURATION")
    print_table(columns, (_execution_row(e) for e in executions))


def _execution_row(e: Execution) -> tuple[str, ...]:
    return (
        e.id,
        e.job_id or e.event_handler_id,
        e.handler_name,
        name_of(e.status),
        name_of(e.trigger),
        str(e.attempt),
        when(e.scheduled_at),
        span(e.duration),
    )


def print_log_line(line: LogLine, output: Output) -> None:
    """One line of a log: as a log reads (time, level, attempt, message),
    not a table row, so that a tail prints each line as it comes."""
    if output is Output.JSON:
        print_json(as_json(line.proto))
        return
    stamp = line.time.isoformat(timespec="milliseconds") if line.time else ""
    level = line.level.name
    text = Text.assemble(
        (stamp.replace("+00:00", "Z"), "dim"),
        " ",
        (level, _LEVEL_STYLES.get(level, "")),
        f" attempt {line.attempt}: ",
        line.message,
    )
    out().print(text, soft_wrap=True)


@app.command(
    "list", epilog=example("cronstream executions list --job 0192f4c1-...-7d3e --status failed")
)
def list_executions(
    ctx: typer.Context,
    status: Annotated[list[ExecutionStatusName], many("Only these statuses (repeat for several).")],
    job: Annotated[str, typer.Option(help="Only this job's.")] = "",
    limit: Limit = 50,
    output: OutputOption = Output.TABLE,
) -> None:
    """List executions (of one job, or all the platform's), newest first."""

    async def work(client: Client) -> list[Execution]:
        statuses = [ExecutionStatus[s.name] for s in status]
        found = client.list_executions(job_id=job, statuses=statuses, page_size=min(limit, 1000))
        return await take(found, limit)

    print_executions(call(ctx, work), output)


@app.command("get", epilog=example("cronstream executions get 0192f4c2-...-91aa"))
def get_execution(
    ctx: typer.Context, execution_id: ExecutionId, output: OutputOption = Output.TABLE
) -> None:
    """Show one execution: its status, times, worker, payload and result."""
    print_execution(call(ctx, lambda client: client.get_execution(execution_id)), output)


@app.command("retry", epilog=example("cronstream executions retry 0192f4c2-...-91aa"))
def retry_execution(
    ctx: typer.Context, execution_id: ExecutionId, output: OutputOption = Output.TABLE
) -> None:
    """Run a finished execution again; prints the new attempt."""
    print_execution(call(ctx, lambda client: client.retry_execution(execution_id)), output)


@app.command("cancel", epilog=example("cronstream executions cancel 0192f4c2-...-91aa"))
def cancel_execution(
    ctx: typer.Context, execution_id: ExecutionId, output: OutputOption = Output.TABLE
) -> None:
    """Cancel a pending or running execution."""
    print_execution(call(ctx, lambda client: client.cancel_execution(execution_id)), output)


@app.command("logs", epilog=example("cronstream executions logs 0192f4c2-...-91aa --follow"))
def logs(
    ctx: typer.Context,
    execution_id: ExecutionId,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until it ends.")
    ] = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """Print an execution's log lines, oldest first.

    With --follow, new lines as they are stored, until the execution ends
    (or Ctrl-C, which exits 0). JSON prints one line object a line."""

    async def work(client: Client) -> None:
        lines = (
            client.follow_logs(execution_id)
            if follow
            else client.list_execution_logs(execution_id, page_size=1000)
        )
        async for line in lines:
            print_log_line(line, output)

    call(ctx, work, interrupt_ends_cleanly=follow)
