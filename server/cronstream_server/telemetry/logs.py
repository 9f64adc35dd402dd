"""Log set-up: level and format from the environment, and the ids of what a
line is about on every line.

`CRONSTREAM_LOG_LEVEL` (debug, info, warning, error, critical; `--log-level`
wins over it) and `CRONSTREAM_LOG_FORMAT` (`text`, the default, or `json`: one
object per line). Either format carries the ids of `FIELDS` where known, and
the `trace_id`/`span_id` of the current OpenTelemetry span.

Ids come from two places. A scope that knows them for its whole life (a
worker's stream knows its platform and worker) runs in `context_with_ids`;
a line about one execution, logged from code that serves many, passes
`extra=log_ids(...)`. A record's own ids win over its scope's.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO

from opentelemetry import trace

LEVEL_VARIABLE = "CRONSTREAM_LOG_LEVEL"
FORMAT_VARIABLE = "CRONSTREAM_LOG_FORMAT"

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
FORMATS = ("text", "json")

# What a line is about, in the order both formats show them.
FIELDS = ("platform_id", "worker_id", "job_id", "execution_id")
TRACE_FIELDS = ("trace_id", "span_id")

_EMPTY: Mapping[str, str] = MappingProxyType({})
_scope_ids: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "cronstream_log_ids", default=_EMPTY
)


class LogSettingsError(ValueError):
    """A log level or format that is not one of the known ones."""


@dataclass(frozen=True)
class LogSettings:
    level: int = logging.INFO
    as_json: bool = False

    @classmethod
    def resolve(cls, flag_level: str | None, environ: Mapping[str, str]) -> LogSettings:
        """The flag's level if given, else the variable's, else INFO."""
        level = flag_level or environ.get(LEVEL_VARIABLE) or "info"
        if level.lower() not in LEVELS:
            source = "--log-level" if flag_level else LEVEL_VARIABLE
            raise LogSettingsError(f"{source}={level!r}: use one of {', '.join(LEVELS)}")
        form = (environ.get(FORMAT_VARIABLE) or "text").lower()
        if form not in FORMATS:
            raise LogSettingsError(f"{FORMAT_VARIABLE}={form!r}: use text or json")
        return cls(level=LEVELS[level.lower()], as_json=form == "json")


def log_ids(**ids: str | None) -> dict[str, str]:
    """`extra=` for a line about these ids (empty ones are left out)."""
    return {name: value for name, value in ids.items() if value}


def context_with_ids(**ids: str | None) -> contextvars.Context:
    """A copy of the current context in which every line carries these ids
    too: run a scope's tasks in it (`create_task(..., context=)`). A copy, not
    a set-and-reset, because a scope inside an async generator (a gRPC stream)
    may be closed from another context, where a reset fails."""
    context = contextvars.copy_context()
    merged = MappingProxyType({**context.run(_scope_ids.get), **log_ids(**ids)})
    context.run(_scope_ids.set, merged)
    return context


class IdsFilter(logging.Filter):
    """Puts the scope's ids and the current span's ids on each record, unless
    the record carries its own. On the handler, so that lines of every logger
    (grpc's, SQLAlchemy's) get them too."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _scope_ids.get().items():
            if not getattr(record, name, None):
                setattr(record, name, value)
        span = trace.get_current_span().get_span_context()
        if span.is_valid and not getattr(record, "trace_id", None):
            record.trace_id = trace.format_trace_id(span.trace_id)
            record.span_id = trace.format_span_id(span.span_id)
        return True


def _ids(record: logging.LogRecord) -> list[tuple[str, str]]:
    found = ((name, getattr(record, name, None)) for name in (*FIELDS, *TRACE_FIELDS))
    return [(name, str(value)) for name, value in found if value]


class TextFormatter(logging.Formatter):
    """The historical `time LEVEL logger: message`, then `key=value` for each id."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        # Here, not in format(): the ids end the first line, before any traceback.
        line = super().formatMessage(record)
        suffix = " ".join(f"{name}={value}" for name, value in _ids(record))
        return f"{line} {suffix}" if suffix else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (RFC 3339, UTC, milliseconds), level,
    logger, message, then the ids found, then `exception` and `stack` when any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **dict(_ids(record)),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry)


def _rfc3339(created: float) -> str:
    at = datetime.fromtimestamp(created, UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_handler(settings: LogSettings, stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(IdsFilter())
    handler.setFormatter(JsonFormatter() if settings.as_json else TextFormatter())
    return handler


def configure_logging(settings: LogSettings) -> None:
    """The process's root logger writes to stderr as `settings` say."""
    logging.basicConfig(level=settings.level, handlers=[log_handler(settings)])


def listed(items: Iterable[str], limit: int = 10) -> str:
    """`a, b, c and 7 more`: ids named in one line, however many there are."""
    names = list(items)
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown
