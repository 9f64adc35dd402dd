"""WHERE clauses over jobs that ListJobs and the bulk calls share."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, or_

from cronstream_server.core.ids import is_valid_id
from cronstream_server.core.selection import JobSelector
from cronstream_server.store.database import Dialect
from cronstream_server.store.tables import scheduled_jobs
from cronstream_server.store.types import holds_all

jobs = scheduled_jobs


def has_all_tags(dialect: Dialect, tags: list[str]) -> ColumnElement[bool]:
    # On Postgres jsonb containment, served by the GIN index on tags.
    return holds_all(jobs.c.tags, tags, jsonb=dialect.jsonb)


def name_starts_with(dialect: Dialect, prefix: str) -> ColumnElement[bool]:
    """Case-sensitive; `%`, `_` and the escape character in `prefix` are
    matched as themselves."""
    like = jobs.c.name.startswith(prefix, autoescape=True)
    if not dialect.like_ignores_case:
        return like
    # LIKE narrows the rows; the exact comparison of the first characters decides.
    return and_(like, func.substr(jobs.c.name, 1, len(prefix)) == prefix)


def name_or_id_matches(text: str) -> ColumnElement[bool]:
    """The name contains `text` ignoring case (`%`, `_` and the escape
    character match themselves), or the id is `text`. Postgres lowers every
    letter (ILIKE); SQLite only ASCII ones (its lower() and LIKE)."""
    contains = jobs.c.name.icontains(text, autoescape=True)
    # Only a well-formed id is compared: Postgres refuses any other text as a uuid.
    return or_(contains, jobs.c.id == text) if is_valid_id(text) else contains


def selected(
    dialect: Dialect, platform_id: str, selector: JobSelector
) -> list[ColumnElement[bool]]:
    """The platform's jobs that `selector` names (`all`: every one)."""
    clauses = [jobs.c.platform_id == platform_id]
    if selector.tags:
        clauses.append(has_all_tags(dialect, list(selector.tags)))
    if selector.handler_name:
        clauses.append(jobs.c.handler_name == selector.handler_name)
    if selector.name_prefix:
        clauses.append(name_starts_with(dialect, selector.name_prefix))
    return clauses
