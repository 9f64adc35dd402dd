"""The server's log lines (telemetry.logs): level and format from the flag and
the environment, JSON keys, the ids of the current span and of the scope."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from cronstream_server.engine.session import End, Hello, Session, Welcome
from cronstream_server.telemetry.logs import (
    LogSettings,
    LogSettingsError,
    context_with_ids,
    listed,
    log_handler,
    log_ids,
)
from opentelemetry.sdk.trace import TracerProvider

RFC3339_UTC_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
_names = itertools.count()


class Captured:
    def __init__(self, *, as_json: bool) -> None:
        self.stream = io.StringIO()
        # Its own logger, not propagating: pytest's capture on the root sees nothing.
        self.log = logging.getLogger(f"cronstream_test.logs{next(_names)}")
        self.log.propagate = False
        self.log.setLevel(logging.DEBUG)
        self.handler = log_handler(LogSettings(as_json=as_json), self.stream)
        self.log.addHandler(self.handler)

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def records(self) -> list[dict[str, str]]:
        return [json.loads(line) for line in self.lines()]

    def close(self) -> None:
        self.log.removeHandler(self.handler)
        self.handler.close()


@pytest.fixture
def as_json() -> Iterator[Captured]:
    captured = Captured(as_json=True)
    yield captured
    captured.close()


@pytest.fixture
def as_text() -> Iterator[Captured]:
    captured = Captured(as_json=False)
    yield captured
    captured.close()


# --- level and format -----------------------------------------------------------


def test_the_flag_wins_over_the_variable() -> None:
    environ = {"CRONSTREAM_LOG_LEVEL": "error"}
    assert LogSettings.resolve("DEBUG", environ).level == logging.DEBUG
    assert LogSettings.resolve(None, environ).level == logging.ERROR


def test_defaults_are_info_and_text() -> None:
    assert LogSettings.resolve(None, {}) == LogSettings(level=logging.INFO, as_json=False)


def test_the_format_variable_picks_json() -> None:
    assert LogSettings.resolve(None, {"CRONSTREAM_LOG_FORMAT": "JSON"}).as_json


@pytest.mark.parametrize(
    ("flag", "environ", "named"),
    [
        ("loud", {}, "--log-level='loud'"),
        (None, {"CRONSTREAM_LOG_LEVEL": "verbose"}, "CRONSTREAM_LOG_LEVEL='verbose'"),
        (None, {"CRONSTREAM_LOG_FORMAT": "logfmt"}, "CRONSTREAM_LOG_FORMAT='logfmt'"),
    ],
)
def test_an_unknown_value_is_refused_naming_where_it_came_from(
    flag: str | None, environ: dict[str, str], named: str
) -> None:
    with pytest.raises(LogSettingsError, match=re.escape(named)):
        LogSettings.resolve(flag, environ)


# --- JSON -----------------------------------------------------------------------


def test_a_json_line_has_time_level_logger_and_message_and_nothing_else(
    as_json: Captured,
) -> None:
    as_json.log.warning("%d leases expired", 3)
    [record] = as_json.records()
    assert set(record) == {"time", "level", "logger", "message"}
    assert RFC3339_UTC_MS.match(record["time"]), record["time"]
    assert record["level"] == "WARNING"
    assert record["logger"] == as_json.log.name
    assert record["message"] == "3 leases expired"


def test_a_json_line_carries_the_current_span(as_json: Captured) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("firing") as span:
        as_json.log.info("inside")
    as_json.log.info("outside")
    inside, outside = as_json.records()
    context = span.get_span_context()
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert "trace_id" not in outside and "span_id" not in outside


def test_a_json_line_carries_the_ids_of_its_scope(as_json: Captured) -> None:
    scope = context_with_ids(platform_id="p1", worker_id="w1")
    scope.run(as_json.log.info, "in the stream")
    as_json.log.info("elsewhere")
    inside, elsewhere = as_json.records()
    assert (inside["platform_id"], inside["worker_id"]) == ("p1", "w1")
    assert "platform_id" not in elsewhere and "worker_id" not in elsewhere


def test_a_line_s_own_ids_win_over_its_scope_s_and_add_to_them(as_json: Captured) -> None:
    scope = context_with_ids(platform_id="p1", worker_id="w1")
    extra = log_ids(worker_id="w2", job_id="j1", execution_id="e1", platform_id=None)
    scope.run(as_json.log.info, "result", extra=extra)
    [record] = as_json.records()
    assert {k: record[k] for k in ("platform_id", "worker_id", "job_id", "execution_id")} == {
        "platform_id": "p1",
        "worker_id": "w2",
        "job_id": "j1",
        "execution_id": "e1",
    }


def test_a_scope_inside_a_scope_keeps_the_outer_ids() -> None:
    outer = context_with_ids(platform_id="p1")
    inner = outer.run(context_with_ids, worker_id="w1")
    captured = Captured(as_json=True)
    try:
        inner.run(captured.log.info, "x")
        [record] = captured.records()
    finally:
        captured.close()
    assert (record["platform_id"], record["worker_id"]) == ("p1", "w1")


async def test_tasks_started_in_a_scope_carry_its_ids_and_the_caller_does_not(
    as_json: Captured,
) -> None:
    async def work() -> None:
        await asyncio.sleep(0)
        as_json.log.info("in a task")

    await asyncio.create_task(work(), context=context_with_ids(worker_id="w1"))
    as_json.log.info("the caller")
    in_task, caller = as_json.records()
    assert in_task["worker_id"] == "w1"
    assert "worker_id" not in caller


def test_an_exception_is_one_field_of_one_line(as_json: Captured) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        as_json.log.exception("the pass failed")
    [line] = as_json.lines()  # the traceback's newlines are escaped
    record = json.loads(line)
    assert record["message"] == "the pass failed"
    assert record["level"] == "ERROR"
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert record["exception"].endswith("ValueError: boom")


# --- text -----------------------------------------------------------------------


def test_a_text_line_ends_with_its_ids_before_any_traceback(as_text: Captured) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        extra = log_ids(platform_id="p1", worker_id="w1", execution_id="e1")
        as_text.log.exception("worker disconnected", extra=extra)
    first, *rest = as_text.lines()
    assert first.endswith(
        f"ERROR {as_text.log.name}: worker disconnected platform_id=p1 worker_id=w1 execution_id=e1"
    )
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: boom"


def test_a_text_line_without_ids_is_as_it_always_was(as_text: Captured) -> None:
    as_text.log.info("serving on %s", "127.0.0.1:50051")
    [line] = as_text.lines()
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}} INFO {as_text.log.name}: "
        r"serving on 127\.0\.0\.1:50051",
        line,
    ), line


# --- helpers --------------------------------------------------------------------


def test_listed_names_at_most_limit_ids() -> None:
    assert listed(["a", "b"], limit=3) == "a, b"
    assert listed(["a", "b", "c", "d", "e"], limit=3) == "a, b, c and 2 more"


def _session() -> Session:
    welcome = Welcome("s", timedelta(seconds=10), timedelta(seconds=30))
    return Session("s", "p", Hello("w", frozenset({"h"}), 1), welcome, lambda: None)


def test_a_session_s_first_reason_to_end_is_the_one_logged() -> None:
    explained = _session()
    explained.explain_end("the call was cancelled")
    explained.close(End.WORKER_LEFT, "the worker closed the stream")
    assert explained.why == "the call was cancelled"

    closed = _session()
    closed.close(End.REVOKED)
    closed.close(End.WORKER_LEFT, "the worker closed the stream")  # already closed
    assert (closed.end, closed.why) == (End.REVOKED, End.REVOKED.why)
