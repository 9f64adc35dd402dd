"""The trigger options `jobs create` and `jobs preview` share: exactly one of
--cron (with --timezone), --every, --at and --event."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import typer
from cronstream._build import JobFields
from cronstream.models import CronTrigger, EventTrigger, IntervalTrigger, OnceTrigger, Trigger

from cronstream_server.cli import parsing
from cronstream_server.cli.output import span, when

_PANEL = "Trigger (exactly one)"

Cron = Annotated[
    str | None,
    typer.Option(help='A cron expression, such as "30 2 * * *".', rich_help_panel=_PANEL),
]
Timezone = Annotated[
    str,
    typer.Option(help="The IANA zone the cron expression reads in.", rich_help_panel=_PANEL),
]
Every = Annotated[
    timedelta | None,
    typer.Option(
        parser=parsing.duration,
        metavar="DURATION",
        help="Fire at this interval: 30s, 5m, 1h30m.",
        rich_help_panel=_PANEL,
    ),
]
At = Annotated[
    datetime | None,
    typer.Option(
        parser=parsing.instant,
        metavar="TIME",
        help="Fire once at this RFC 3339 time, such as 2026-01-31T09:00:00Z.",
        rich_help_panel=_PANEL,
    ),
]
Event = Annotated[
    str | None,
    typer.Option(help="Run whenever this event is triggered.", rich_help_panel=_PANEL),
]


def trigger_fields(
    *,
    cron: str | None,
    timezone: str,
    every: timedelta | None,
    at: datetime | None,
    event: str | None,
) -> JobFields:
    """The trigger's keywords of `Client.create_job`; empty when none is given."""
    given = [
        name
        for name, value in (("--cron", cron), ("--every", every), ("--at", at), ("--event", event))
        if value is not None
    ]
    if len(given) > 1:
        raise typer.BadParameter(f"give one trigger, not {' and '.join(given)}")
    fields: JobFields = {}
    if cron is not None:
        fields.update({"cron": cron, "timezone": timezone})
    elif every is not None:
        fields["every"] = every
    elif at is not None:
        fields["once"] = at
    elif event is not None:
        fields["event"] = event
    return fields


def describe(trigger: Trigger | None) -> str:
    """A trigger in a few words: "cron 30 2 * * * (Europe/Berlin)", "every 5m"."""
    match trigger:
        case CronTrigger(expression, timezone):
            return f"cron {expression} ({timezone or 'UTC'})"
        case IntervalTrigger(every=every):
            return f"every {span(every)}"
        case OnceTrigger(run_at):
            return f"at {when(run_at)}"
        case EventTrigger(event_name):
            return f"on event {event_name}"
    return ""
