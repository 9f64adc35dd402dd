"""Option shapes several command groups share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeVar

import typer

Limit = Annotated[int, typer.Option(min=1, help="Show at most this many.")]

_T = TypeVar("_T")


def many(help: str, metavar: str | None = None, panel: str | None = None) -> Any:
    """A repeatable option, empty when not given."""
    return typer.Option(
        default_factory=list,
        help=help,
        metavar=metavar,
        show_default=False,
        rich_help_panel=panel,
    )


async def take(items: AsyncIterator[_T], limit: int) -> list[_T]:
    """The first `limit` items; the client pages on demand, so no page past
    them is read."""
    taken: list[_T] = []
    async for item in items:
        taken.append(item)
        if len(taken) >= limit:
            break
    return taken
