"""`cronstream jobs pause | resume | preview | backfill`: the schedule's
controls, on one job or (pause, resume) on every job a selector matches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated

import typer
from cronstream import BulkChange, Client, ScheduledInstant, SchedulePreview
from rich.progress import Progress

from cronstream_server.cli import backfills
from cronstream_server.cli.choices import BackfillOverlap
from cronstream_server.cli.connection import call
from cronstream_server.cli.jobs import print_job
from cronstream_server.cli.options import many
from cronstream_server.cli.output import (
    Output,
    OutputOption,
    as_json,
    errors,
    example,
    out,
    print_json,
    print_table,
    when,
)
from cronstream_server.cli.parsing import instant
from cronstream_server.cli.triggers import At, Cron, Event, Every, Timezone, trigger_fields

_SELECT = "Many jobs (instead of an ID)"
# The selection options `jobs pause` and `jobs resume` share.
SelectTags = Annotated[list[str], many("Jobs with every one of these tags.", "TAG", _SELECT)]
SelectHandler = Annotated[str, typer.Option(help="Jobs of this handler.", rich_help_panel=_SELECT)]
SelectNamePrefix = Annotated[
    str, typer.Option(help="Jobs whose name starts so.", rich_help_panel=_SELECT)
]

OptionalJobId = Annotated[
    str | None,
    typer.Argument(help="The job's id (or select many).", metavar="JOB_ID", show_default=False),
]
Time = Annotated[datetime | None, typer.Option(parser=instant, metavar="TIME")]


def register(app: typer.Typer) -> None:
    app.command(
        "pause",
        epilog=example(
            "cronstream jobs pause 0192f4c1-...-7d3e --until 2026-12-24T00:00:00Z",
            "cronstream jobs pause --tag nightly",
        ),
    )(pause)
    app.command("resume", epilog=example("cronstream jobs resume --handler send_report"))(resume)
    app.command(
        "preview",
        epilog=example(
            'cronstream jobs preview --cron "30 2 * * *" --timezone Europe/Berlin '
            "--after 2026-03-28T00:00:00Z --count 3"
        ),
    )(preview)
    app.command(
        "backfill",
        epilog=example(
            "cronstream jobs backfill 0192f4c1-...-7d3e "
            "--start 2026-11-01T00:00:00Z --end 2026-12-01T00:00:00Z"
        ),
    )(backfill)


def pause(
    ctx: typer.Context,
    tag: SelectTags,
    job_id: OptionalJobId = None,
    until: Annotated[
        datetime | None,
        typer.Option(parser=instant, metavar="TIME", help="Resume by itself then (RFC 3339)."),
    ] = None,
    all_jobs: Annotated[
        bool, typer.Option("--all", help="Every active job.", rich_help_panel=_SELECT)
    ] = False,
    handler: SelectHandler = "",
    name_prefix: SelectNamePrefix = "",
    output: OutputOption = Output.TABLE,
) -> None:
    """Pause one job, or every active job a selection matches.

    A selection pauses a thousand jobs a call, with a progress bar."""
    if _one_job(job_id, tag, handler, name_prefix, all_jobs):
        assert job_id is not None
        print_job(call(ctx, lambda client: client.pause_job(job_id, until=until)), output)
        return

    def step(client: Client) -> Awaitable[BulkChange]:
        return client.pause_jobs(
            tags=tag, handler=handler, name_prefix=name_prefix, all_jobs=all_jobs, until=until
        )

    _print_bulk("paused", call(ctx, lambda client: _bulk(client, step, output)), output)


def resume(
    ctx: typer.Context,
    tag: SelectTags,
    job_id: OptionalJobId = None,
    all_jobs: Annotated[
        bool, typer.Option("--all", help="Every paused job.", rich_help_panel=_SELECT)
    ] = False,
    handler: SelectHandler = "",
    name_prefix: SelectNamePrefix = "",
    output: OutputOption = Output.TABLE,
) -> None:
    """Resume one job, or every paused job a selection matches."""
    if _one_job(job_id, tag, handler, name_prefix, all_jobs):
        assert job_id is not None
        print_job(call(ctx, lambda client: client.resume_job(job_id)), output)
        return

    def step(client: Client) -> Awaitable[BulkChange]:
        return client.resume_jobs(
            tags=tag, handler=handler, name_prefix=name_prefix, all_jobs=all_jobs
        )

    _print_bulk("resumed", call(ctx, lambda client: _bulk(client, step, output)), output)


def _one_job(
    job_id: str | None, tags: list[str], handler: str, name_prefix: str, all_jobs: bool
) -> bool:
    """Whether the command names one job (True) or selects many (False)."""
    selects = bool(tags or handler or name_prefix or all_jobs)
    if job_id is not None and selects:
        raise typer.BadParameter("give a job id or a selection (--all, --tag, ...), not both")
    if job_id is None and not selects:
        raise typer.BadParameter(
            "give a job id, or select jobs with --all, --tag, --handler or --name-prefix"
        )
    return job_id is not None


async def _bulk(
    client: Client, step: Callable[[Client], Awaitable[BulkChange]], output: Output
) -> BulkChange:
    """Calls `step` (a thousand jobs a call) until none remain, the bar
    showing the jobs changed of those matched; stops on a call that changed
    none (another client changing them back) rather than spin."""
    changed = 0
    with Progress(console=errors(), disable=output is Output.JSON, transient=True) as bar:
        task = bar.add_task("jobs", total=None)
        while True:
            done = await step(client)
            changed += done.changed
            bar.update(task, completed=changed, total=changed + done.remaining)
            if done.remaining == 0 or done.changed == 0:
                return BulkChange(changed, done.remaining)


def _print_bulk(verb: str, change: BulkChange, output: Output) -> None:
    if output is Output.JSON:
        print_json({"changed": change.changed, "remaining": change.remaining})
        return
    out().print(f"{verb} {change.changed} job{'' if change.changed == 1 else 's'}")
    if change.remaining:
        errors().print(
            f"{change.remaining} matching jobs left: another client changed them meanwhile"
        )


def preview(
    ctx: typer.Context,
    job_id: Annotated[
        str | None,
        typer.Argument(
            help="A job's id (or give a trigger).", metavar="JOB_ID", show_default=False
        ),
    ] = None,
    cron: Cron = None,
    timezone: Timezone = "UTC",
    every: Every = None,
    at: At = None,
    event: Event = None,
    after: Annotated[
        datetime | None,
        typer.Option(parser=instant, metavar="TIME", help="Instants after this (default: now)."),
    ] = None,
    before: Annotated[
        datetime | None, typer.Option(parser=instant, metavar="TIME", help="Instants before this.")
    ] = None,
    count: Annotated[
        int | None, typer.Option(min=1, help="At most this many (default 10).")
    ] = None,
    output: OutputOption = Output.TABLE,
) -> None:
    """Show the instants a job (or a trigger) fires, with the clock's marks.

    A time a jump forward skipped fires at the first instant after the jump
    ("shifted"); a wildcard-hour schedule fires twice in an hour the clock
    repeats. Clock changes in the range are listed after the instants."""
    trigger = trigger_fields(cron=cron, timezone=timezone, every=every, at=at, event=event)
    if bool(trigger) == (job_id is not None):
        raise typer.BadParameter("give a job id or a trigger (--cron, --every, --at), not both")

    async def work(client: Client) -> SchedulePreview:
        return await client.preview(
            job_id=job_id or "", after=after, before=before, count=count, **trigger
        )

    shown = call(ctx, work)
    if output is Output.JSON:
        print_json(as_json(shown.proto))
        return
    rows = ((when(i.time), _wall(i), _mark(i)) for i in shown.instants)
    print_table(("UTC", "LOCAL", "CLOCK"), rows)
    for change in shown.summary.clock_changes:
        skipped = ", ".join(change.skipped_wall_times) or "none"
        out().print(
            f"clock change at {when(change.at)}: UTC{_offset(change.offset_before)} -> "
            f"UTC{_offset(change.offset_after)}; wall times not fired: {skipped}"
        )


def _wall(i: ScheduledInstant) -> str:
    return i.local_time.isoformat() if i.local_time else ""


def _mark(i: ScheduledInstant) -> str:
    if i.shifted:
        return f"shifted: {i.scheduled_wall_time} does not exist that day"
    return "repeated hour: fires in both" if i.repeated_hour else ""


def _offset(value: timedelta) -> str:
    """An offset as ISO 8601 writes it: +01:00, -03:30."""
    minutes = round(value.total_seconds() / 60)
    hours, rest = divmod(abs(minutes), 60)
    return f"{'-' if minutes < 0 else '+'}{hours:02d}:{rest:02d}"


def backfill(
    ctx: typer.Context,
    job_id: Annotated[
        str, typer.Argument(help="The job's id.", metavar="JOB_ID", show_default=False)
    ],
    start: Annotated[
        datetime, typer.Option(parser=instant, metavar="TIME", help="From this instant (kept).")
    ],
    end: Annotated[
        datetime, typer.Option(parser=instant, metavar="TIME", help="To this one (left out).")
    ],
    overlap: Annotated[
        BackfillOverlap | None,
        typer.Option(help="allow (at once) or buffer_one (one at a time); default: the job's."),
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="Wait, with a progress bar, until all are released.")
    ] = True,
    output: OutputOption = Output.TABLE,
) -> None:
    """Run a job's schedule over a past range [start, end).

    One execution for every instant in the range that has none, released to
    the workers at the server's backfill rate: a progress bar shows them
    released, unless --no-wait."""

    async def work(client: Client) -> backfills.Outcome:
        return await backfills.run(
            client, job_id, start, end, overlap, wait=wait, bar=output is Output.TABLE
        )

    done = call(ctx, work)
    if output is Output.JSON:
        print_json(done.as_dict())
        return
    out().print(
        f"{done.counts.instants} instants: {done.counts.created} executions created, "
        f"{done.counts.existing} had one already" + (f"; {done.released} released" if wait else "")
    )
