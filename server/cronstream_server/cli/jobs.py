"""`cronstream jobs list | get | create | run | cancel | delete` (the
schedule's controls, pause to backfill, are in `job_controls`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Annotated

import typer
from cronstream import Client, Job
from cronstream.models import HealthState, JobStatus, JobType

from cronstream_server.cli import parsing
from cronstream_server.cli.choices import HealthName, JobStatusName, JobTypeName
from cronstream_server.cli.connection import call
from cronstream_server.cli.executions import print_execution
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
from cronstream_server.cli.triggers import (
    At,
    Cron,
    Event,
    Every,
    Timezone,
    describe,
    trigger_fields,
)

app = typer.Typer(help="List, create and steer jobs.", no_args_is_help=True)

JobId = Annotated[str, typer.Argument(help="The job's id.", metavar="JOB_ID", show_default=False)]


def print_jobs(jobs: Iterable[Job], output: Output) -> None:
    if output is Output.JSON:
        print_json([as_json(job.proto) for job in jobs])
        return
    columns = ("ID", "NAME", "HANDLER", "SCHEDULE", "STATUS", "HEALTH", "NEXT RUN", "LAST RUN")
    print_table(columns, (_job_row(job) for job in jobs))


def _job_row(job: Job) -> tuple[str, ...]:
    return (
        job.id,
        job.name,
        job.handler_name,
        describe(job.trigger),
        name_of(job.status),
        name_of(job.health.state) if job.health else "",
        when(job.next_run),
        when(job.last_run),
    )


def print_job(job: Job, output: Output) -> None:
    if output is Output.JSON:
        print_json(as_json(job.proto))
        return
    health = f"{name_of(job.health.state)} {job.health.reason}".strip() if job.health else ""
    rows = [
        ("id", job.id),
        ("name", job.name),
        ("handler", job.handler_name),
        ("schedule", describe(job.trigger)),
        ("status", name_of(job.status)),
        ("paused until", when(job.paused_until)),
        ("health", health),
        ("next run", when(job.next_run)),
        ("last run", when(job.last_run)),
        ("payload", compact_json(job.payload)),
        ("tags", ", ".join(job.tags)),
        ("priority", name_of(job.priority)),
        ("max retries", "" if job.max_retries is None else str(job.max_retries)),
        ("timeout", span(job.timeout)),
        ("runs", f"{job.executions_count} ({job.success_count} ok, {job.failure_count} failed)"),
        ("average duration", span(job.avg_duration)),
        ("created", when(job.created_at)),
    ]
    print_record((name, value) for name, value in rows if value)


@app.command("list", epilog=example("cronstream jobs list --status active --tag nightly"))
def list_jobs(
    ctx: typer.Context,
    status: Annotated[list[JobStatusName], many("Only these statuses (repeat for several).")],
    type: Annotated[list[JobTypeName], many("Only these types.")],
    tag: Annotated[list[str], many("Only jobs with every one of these tags.", "TAG")],
    health: Annotated[list[HealthName], many("Only jobs in these health states.")],
    handler: Annotated[str, typer.Option(help="Only jobs of this handler.")] = "",
    text: Annotated[
        str, typer.Option(help="Only jobs whose name contains this (any case), or of this id.")
    ] = "",
    limit: Limit = 50,
    output: OutputOption = Output.TABLE,
) -> None:
    """List the platform's jobs, newest first."""

    async def work(client: Client) -> list[Job]:
        found = client.list_jobs(
            statuses=[JobStatus[s.name] for s in status],
            types=[JobType[t.name] for t in type],
            handler=handler,
            tags=tag,
            healths=[HealthState[h.name] for h in health],
            text=text,
            page_size=min(limit, 1000),
        )
        return await take(found, limit)

    print_jobs(call(ctx, work), output)


@app.command("get", epilog=example("cronstream jobs get 0192f4c1-...-7d3e"))
def get_job(ctx: typer.Context, job_id: JobId, output: OutputOption = Output.TABLE) -> None:
    """Show one job: its schedule, status, health and counts."""
    print_job(call(ctx, lambda client: client.get_job(job_id)), output)


@app.command(
    "create",
    epilog=example(
        "cronstream jobs create --name nightly-report --handler send_report "
        '--cron "30 2 * * *" --timezone Europe/Berlin --payload \'{"team": "ops"}\''
    ),
)
def create_job(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="The job's name.", show_default=False)],
    handler: Annotated[
        str, typer.Option(help="The handler workers run it with.", show_default=False)
    ],
    tag: Annotated[list[str], many("A tag (repeat for several).", "TAG")],
    cron: Cron = None,
    timezone: Timezone = "UTC",
    every: Every = None,
    at: At = None,
    event: Event = None,
    payload: Annotated[
        str | None, typer.Option(metavar="JSON", help="The handler's input, a JSON object.")
    ] = None,
    max_retries: Annotated[int | None, typer.Option(min=0, help="Retries after a failure.")] = None,
    timeout: Annotated[
        timedelta | None,
        typer.Option(parser=parsing.duration, metavar="DURATION", help="Per attempt: 30s, 10m."),
    ] = None,
    output: OutputOption = Output.TABLE,
) -> None:
    """Create a job with one trigger; prints the job created."""
    fields = trigger_fields(cron=cron, timezone=timezone, every=every, at=at, event=event)
    if not fields:
        raise typer.BadParameter("give one of --cron, --every, --at and --event")
    fields.update({"name": name, "handler": handler, "tags": tag})
    if payload is not None:
        fields["payload"] = parsing.json_object(payload)
    if max_retries is not None:
        fields["max_retries"] = max_retries
    if timeout is not None:
        fields["timeout"] = timeout
    print_job(call(ctx, lambda client: client.create_job(**fields)), output)


@app.command("run", epilog=example("cronstream jobs run 0192f4c1-...-7d3e"))
def run_job(ctx: typer.Context, job_id: JobId, output: OutputOption = Output.TABLE) -> None:
    """Run a job now, outside its schedule; prints the execution made."""
    print_execution(call(ctx, lambda client: client.run_job(job_id)), output)


@app.command("cancel", epilog=example("cronstream jobs cancel 0192f4c1-...-7d3e"))
def cancel_job(ctx: typer.Context, job_id: JobId, output: OutputOption = Output.TABLE) -> None:
    """Cancel a job for good, and its pending executions."""
    print_job(call(ctx, lambda client: client.cancel_job(job_id)), output)


@app.command("delete", epilog=example("cronstream jobs delete 0192f4c1-...-7d3e"))
def delete_job(ctx: typer.Context, job_id: JobId, output: OutputOption = Output.TABLE) -> None:
    """Delete a job and its history (no confirmation: scripts run it)."""
    call(ctx, lambda client: client.delete_job(job_id))
    if output is Output.JSON:
        print_json({"id": job_id, "deleted": True})
    else:
        out().print(f"deleted job {job_id}")
