"""Column types that behave the same on Postgres and SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Dialect,
    String,
    Uuid,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out.

    Postgres stores `timestamptz`; SQLite has no time type, so SQLAlchemy keeps
    a fixed-width ISO string (which sorts chronologically) of the value's
    fields, its offset left out, and hands back naive values: values go in
    as UTC, and get UTC attached again on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_type() -> TypeEngine[Any]:
    """JSONB on Postgres (indexable, compact), JSON text elsewhere."""
    return JSON().with_variant(JSONB(), "postgresql")


def holds_all(
    column: ColumnElement[Any], values: Sequence[str], *, jsonb: bool
) -> ColumnElement[bool]:
    """`column` (a JSON array of strings) holds each of `values`. `jsonb`
    (Dialect.jsonb): jsonb containment, which a GIN index can serve."""
    if jsonb:
        return type_coerce(column, JSONB).contains(list(values))
    each = func.json_each(column).table_valued("value")
    return and_(
        *(exists(select(literal(1)).select_from(each).where(each.c.value == v)) for v in values)
    )


def one_of(column: ColumnElement[str], ids: Sequence[str], as_array: bool) -> ColumnElement[bool]:
    """`column` (a uuid) equal to one of `ids`. `as_array` (Dialect.uuid_arrays):
    the ids go as one uuid[] parameter, one statement prepared once for any
    number of them, where IN (...) renders and prepares one per count.

    The array is a set of rows (`IN (SELECT unnest(...))`), not `= ANY(...)`:
    Postgres keeps a generic plan for a prepared statement, and one made
    while the table was small (statistics lag a burst of inserts by up to a
    minute) scans the table and searches the array once per row: with 1,000
    ids and 40,000 executions, 4-9 s a statement. As a set, the worst such
    plan is one hash join over a scan; the usual one, an index lookup per id.
    """
    if not as_array:
        return column.in_(ids)
    return column.in_(select(func.unnest(uuid_array("ids", ids))).scalar_subquery())


def uuid_array(name: str, ids: Sequence[str]) -> Any:
    """`ids` as one uuid[] parameter named `name` (Postgres)."""
    values: Any = list(ids)
    return cast(bindparam(name, values, type_=ARRAY(String)), ARRAY(Uuid(as_uuid=False)))
