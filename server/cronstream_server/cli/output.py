"""How client commands print: Rich tables by default, JSON with
`--output json`.

JSON is the protobuf JSON mapping of the messages the server returned (the
shape grpcurl prints and docs/api.md shows: lowerCamelCase names, enums by
their full names, RFC 3339 times, every field present): a list command prints
an array, a streaming command (a watch, a tail) one object per line.

Tables go to stdout, messages and progress bars to stderr, so that stdout
stays what a script reads. Piped (not a terminal), tables are never wrapped
or cut to a width: each row is one line.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any

import typer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich import box
from rich.console import Console
from rich.table import Table

# Wide enough for any row a command prints; only used when not a terminal.
_PIPED_WIDTH = 100_000


class Output(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[
    Output,
    typer.Option("--output", "-o", help="table (for people) or json (for scripts)."),
]


def example(*lines: str) -> str:
    """A command's help epilog: its example."""
    return "Example:  " + "  |  ".join(lines)


@cache
def out() -> Console:
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=_PIPED_WIDTH)
    return console


@cache
def errors() -> Console:
    """Messages are never cut into lines (the terminal wraps them)."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def as_json(message: Message) -> dict[str, Any]:
    return MessageToDict(message, always_print_fields_with_no_presence=True)


def print_json(value: object) -> None:
    """One JSON document on one line, to stdout."""
    print(json.dumps(value, ensure_ascii=False), flush=True)  # noqa: T201


def print_record(rows: Iterable[tuple[str, str]], title: str | None = None) -> None:
    """One object as a two-column table: field, value."""
    table = Table(box=box.SIMPLE, show_header=False, title=title, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    out().print(table)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Rows under a header; "(none)" instead of an empty table."""
    table = Table(*columns, box=box.SIMPLE_HEAD, header_style="bold")
    for row in rows:
        table.add_row(*row)
    if table.row_count:
        out().print(table)
    else:
        errors().print("(none)")


def when(value: datetime | None) -> str:
    """An instant in UTC, as RFC 3339 to the second ("" when unset): what
    `--at`, `--until`, `--start` and `--end` take back."""
    if value is None:
        return ""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def span(value: timedelta | None) -> str:
    """A duration, short: "850ms", "12.5s", "3m20s", "2h", "1d6h" ("" when unset)."""
    if value is None:
        return ""
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    parts, left = [], round(seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def name_of(member: enum.Enum) -> str:
    """An enum member as users type it: `active`, `buffer_one`."""
    return member.name.lower()


def compact_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
