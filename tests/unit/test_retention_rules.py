"""The retention setting's syntax, and which executions retention may delete."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cronstream_server.config import Settings
from cronstream_server.core.enums import ExecutionStatus
from cronstream_server.core.retention import (
    DEFAULT_RETENTION,
    FINISHED,
    format_retention,
    parse_retention,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("24h", timedelta(hours=24)),
        ("30m", timedelta(minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2h30m15s", timedelta(hours=2, minutes=30, seconds=15)),
        (" 14D ", timedelta(days=14)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_retention(text) == expected


@pytest.mark.parametrize("text", ["0", "off", "OFF", "false", "no", "0d", "0h0m"])
def test_zero_or_off_keeps_forever(text: str) -> None:
    assert parse_retention(text) is None


@pytest.mark.parametrize(
    "text", ["", "7", "d", "7x", "-1d", "7 d", "1.5h", "7days", "1d 12h", "h7", "7d!", "forever"]
)
def test_anything_else_is_refused_with_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a duration.*7d, 24h or 30m.*0/off"):
        parse_retention(text)


@pytest.mark.parametrize("text", ["36501d", "99999999999999d", "876001h"])
def test_longer_than_a_century_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"longer than 36500d: use off"):
        parse_retention(text)
    assert parse_retention("36500d") == timedelta(days=36_500)


@pytest.mark.parametrize(
    ("text", "formatted"),
    [("7d", "7d"), ("24h", "1d"), ("1d12h", "1d12h"), ("90s", "1m30s"), ("off", "off")],
)
def test_format_is_the_inverse_of_parse(text: str, formatted: str) -> None:
    parsed = parse_retention(text)
    assert format_retention(parsed) == formatted
    assert parse_retention(formatted) == parsed


def test_only_final_statuses_may_be_deleted() -> None:
    assert set(FINISHED) == {
        ExecutionStatus.SUCCESS,
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMEOUT,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.SKIPPED,
    }
    assert ExecutionStatus.PENDING not in FINISHED and ExecutionStatus.RUNNING not in FINISHED


def test_setting_default_is_thirty_days() -> None:
    assert Settings.from_env({}).execution_retention == DEFAULT_RETENTION == timedelta(days=30)
    assert Settings().execution_retention == DEFAULT_RETENTION
    blank = Settings.from_env({"CRONSTREAM_EXECUTION_RETENTION": "  "})
    assert blank.execution_retention == DEFAULT_RETENTION


def test_setting_from_environment() -> None:
    def read(value: str) -> timedelta | None:
        return Settings.from_env({"CRONSTREAM_EXECUTION_RETENTION": value}).execution_retention

    assert read("30d") == timedelta(days=30)
    assert read("off") is None
    assert read("0") is None


def test_a_bad_setting_names_the_variable() -> None:
    with pytest.raises(ValueError, match=r"^CRONSTREAM_EXECUTION_RETENTION: '7 days' is not"):
        Settings.from_env({"CRONSTREAM_EXECUTION_RETENTION": "7 days"})
