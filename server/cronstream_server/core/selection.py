"""Bulk calls over a platform's jobs (PauseJobs, ResumeJobs): which jobs a
selector names, how many one call may change, and what it answers."""

from __future__ import annotations

from cronstream_server.core.errors import FieldViolation
from cronstream_server.core.jobs import MAX_TAG_LENGTH, MAX_TAGS, Job
from cronstream_server.core.validation import check_name
from cronstream_server.core.values import value_type

DEFAULT_LIMIT = 1_000
MAX_LIMIT = 10_000


@value_type
class JobSelector:
    """Jobs carrying all `tags`, with `handler_name`, whose name starts with
    `name_prefix` (case-sensitive); the filters set combine with AND. `all`
    alone names every job."""

    tags: tuple[str, ...] = ()
    handler_name: str = ""
    name_prefix: str = ""
    all: bool = False

    @property
    def filters(self) -> bool:
        return bool(self.tags or self.handler_name or self.name_prefix)


@value_type
class BulkChange:
    """What one bulk call did: each job changed, (before, after), and how many
    jobs still match in the state the call changes (the caller calls again
    while there are some)."""

    changed: list[tuple[Job, Job]]
    remaining: int


def check_selector(violations: list[FieldViolation], path: str, selector: JobSelector) -> None:
    """A selector names some jobs on purpose: an empty one is a mistake, not
    "every job" (that takes `all`), and `all` beside a filter is ambiguous."""
    if selector.all and selector.filters:
        violations.append(FieldViolation(path, "`all` selects every job: set no other filter"))
    elif not selector.all and not selector.filters:
        violations.append(
            FieldViolation(path, "set tags, handler_name or name_prefix, or `all` for every job")
        )
    if len(selector.tags) > MAX_TAGS:
        violations.append(FieldViolation(f"{path}.tags", f"at most {MAX_TAGS} tags"))
    for index, tag in enumerate(selector.tags):
        check_name(violations, f"{path}.tags[{index}]", tag, max_length=MAX_TAG_LENGTH)
    check_name(violations, f"{path}.handler_name", selector.handler_name, required=False)
    check_name(violations, f"{path}.name_prefix", selector.name_prefix, required=False)


def bulk_limit(violations: list[FieldViolation], path: str, limit: int) -> int:
    """The jobs one call may change: `limit`, or DEFAULT_LIMIT when it is 0."""
    if limit == 0:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        violations.append(
            FieldViolation(path, f"must be 1 to {MAX_LIMIT:,} (0: {DEFAULT_LIMIT:,})")
        )
    return limit
