"""Keyset pagination over (created_at, id): stable under inserts, no OFFSET scans."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Column, Select, literal, tuple_

from cronstream_server.core.paging import PageRequest

T = TypeVar("T")


def keyset_page(
    query: Select[Any],
    created_at: Column[datetime],
    row_id: Column[str],
    page: PageRequest,
    *,
    newest_first: bool,
) -> Select[Any]:
    """`query` ordered by (created_at, id), after the page's key, one row past
    the page size (so the caller learns whether another page follows)."""
    if page.after is not None:
        after_time, after_id = datetime.fromisoformat(page.after[0]), page.after[1]
        # Typed literals, so SQLite compares its stored text with text of the same format.
        key = tuple_(created_at, row_id)
        bound = tuple_(literal(after_time, created_at.type), literal(after_id, row_id.type))
        query = query.where(key < bound if newest_first else key > bound)
    if newest_first:
        query = query.order_by(created_at.desc(), row_id.desc())
    else:
        query = query.order_by(created_at, row_id)
    return query.limit(page.size + 1)


def split_page(rows: Sequence[T], size: int) -> tuple[list[T], T | None]:
    """The page's rows, and its last row when more follow (else None)."""
    items = list(rows[:size])
    return items, (items[-1] if len(rows) > size else None)
