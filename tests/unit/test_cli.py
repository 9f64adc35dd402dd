"""The command line's pieces without a server: every command's help and its
example, the option parsers, the printed forms of times and durations, and
the exit code of each gRPC status (tests/e2e/test_cli.py runs the commands)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import grpc
import pytest
import typer
from cronstream.errors import FieldViolation, InvalidArgumentError, NotFoundError
from cronstream_server.cli import exits, parsing
from cronstream_server.cli.app import app
from cronstream_server.cli.output import span, when
from rich.console import Console
from typer.testing import CliRunner

COMMANDS = [
    *(
        f"jobs {c}"
        for c in "list get create pause resume run cancel delete preview backfill".split()
    ),
    *(f"executions {c}" for c in ("list", "get", "logs", "retry", "cancel")),
    *("alerts list", "alerts watch", "workers list"),
    *("serve", "migrate", "dev", "platform create", "apikey create"),
]


def _commands(group: typer.Typer, prefix: str = "") -> set[str]:
    names = {f"{prefix}{c.name}" for c in group.registered_commands}
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        names |= _commands(sub.typer_instance, f"{prefix}{sub.name} ")
    return names


def test_the_list_holds_every_command() -> None:
    assert _commands(app) == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_s_help_shows_an_example_of_it(command: str) -> None:
    shown = CliRunner().invoke(app, [*command.split(), "--help"], prog_name="cronstream")
    assert shown.exit_code == 0, shown.output
    assert f"Usage: cronstream {command}" in shown.output
    assert f"Example:  cronstream {command}" in shown.output


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("1.5s", 1.5), ("250ms", 0.25), ("2d", 172_800)],
)
def test_durations_read_as_go_writes_them(text: str, seconds: float) -> None:
    assert parsing.duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "5 minutes", "5m junk", "-5m", "1h 30m"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    with pytest.raises(typer.BadParameter, match="is not a duration"):
        parsing.duration(text)


def test_an_instant_needs_its_offset() -> None:
    berlin = timezone(timedelta(hours=1))
    assert parsing.instant("2026-01-31T09:00:00+01:00") == datetime(2026, 1, 31, 9, tzinfo=berlin)
    assert parsing.instant("2026-01-31T08:00:00Z") == datetime(2026, 1, 31, 8, tzinfo=UTC)
    for naive in ("2026-01-31T09:00:00", "tomorrow"):
        with pytest.raises(typer.BadParameter, match="with an offset"):
            parsing.instant(naive)


def test_a_payload_is_a_json_object() -> None:
    assert parsing.json_object('{"team": "ops", "n": [1]}') == {"team": "ops", "n": [1]}
    with pytest.raises(typer.BadParameter, match="a JSON object is needed"):
        parsing.json_object("[1, 2]")
    with pytest.raises(typer.BadParameter, match="not JSON"):
        parsing.json_object("{team: ops}")


def test_times_print_as_rfc_3339_utc_to_the_second() -> None:
    berlin = timezone(timedelta(hours=2))
    assert when(datetime(2026, 3, 29, 3, 0, 0, 123_456, tzinfo=berlin)) == "2026-03-29T01:00:00Z"
    assert when(None) == ""


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.25, "250ms"), (12.5, "12.5s"), (200, "3m20s"), (7200, "2h"), (108_000, "1d6h")],
)
def test_durations_print_short(value: float, shown: str) -> None:
    assert span(timedelta(seconds=value)) == shown


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 13),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 14),
        (grpc.StatusCode.NOT_FOUND, 15),
        (grpc.StatusCode.ALREADY_EXISTS, 16),
        (grpc.StatusCode.PERMISSION_DENIED, 17),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 18),
        (grpc.StatusCode.FAILED_PRECONDITION, 19),
        (grpc.StatusCode.UNIMPLEMENTED, 22),
        (grpc.StatusCode.INTERNAL, 23),
        (grpc.StatusCode.UNAVAILABLE, 24),
        (grpc.StatusCode.UNAUTHENTICATED, 26),
    ],
)
def test_each_status_has_its_exit_code(code: grpc.StatusCode, exit_code: int) -> None:
    assert exits.status_exit_code(code) == exit_code


def test_a_report_names_the_status_and_each_field_violation() -> None:
    console = Console(record=True, width=200)
    error = InvalidArgumentError(
        "bad job", [FieldViolation("job.cron.expression", "61 is not a minute (0 to 59)")]
    )
    assert exits.report(error, console) == 13
    assert console.export_text().splitlines() == [
        "error: INVALID_ARGUMENT: bad job",
        "  job.cron.expression: 61 is not a minute (0 to 59)",
    ]
    assert exits.report(NotFoundError("job [x] not found"), console) == 15
    assert console.export_text().splitlines() == ["error: NOT_FOUND: job [x] not found"]
