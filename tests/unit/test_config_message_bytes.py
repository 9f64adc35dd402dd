"""CRONSTREAM_MAX_MESSAGE_BYTES: read, defaulted and checked by Settings.from_env."""

from __future__ import annotations

import pytest
from cronstream_server.config import MIN_MESSAGE_BYTES, Settings

MiB = 1024 * 1024


def test_the_default_is_grpcs_4_mib() -> None:
    assert Settings.from_env({}).max_message_bytes == 4 * MiB == Settings().max_message_bytes
    assert Settings.from_env({"CRONSTREAM_MAX_MESSAGE_BYTES": " "}).max_message_bytes == 4 * MiB


def test_the_variable_is_read() -> None:
    settings = Settings.from_env({"CRONSTREAM_MAX_MESSAGE_BYTES": "16777216"})
    assert settings.max_message_bytes == 16 * MiB
    assert MIN_MESSAGE_BYTES == MiB
    smallest = Settings.from_env({"CRONSTREAM_MAX_MESSAGE_BYTES": str(MiB)})
    assert smallest.max_message_bytes == MiB


@pytest.mark.parametrize("value", ["1048575", "0", "-5"])
def test_below_one_mib_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"CRONSTREAM_MAX_MESSAGE_BYTES: -?\d+ is too small"):
        Settings.from_env({"CRONSTREAM_MAX_MESSAGE_BYTES": value})


@pytest.mark.parametrize("value", ["4MiB", "4194304.0", "lots"])
def test_a_value_that_is_not_a_number_of_bytes_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not a whole number of bytes"):
        Settings.from_env({"CRONSTREAM_MAX_MESSAGE_BYTES": value})


def test_it_must_hold_four_payloads() -> None:
    # An execution carries a payload and a result of up to the payload limit each.
    raised = {"CRONSTREAM_MAX_PAYLOAD_BYTES": str(2 * MiB)}
    with pytest.raises(ValueError, match="at least 8388608"):
        Settings.from_env(raised | {"CRONSTREAM_MAX_MESSAGE_BYTES": str(4 * MiB)})
    settings = Settings.from_env(raised | {"CRONSTREAM_MAX_MESSAGE_BYTES": str(8 * MiB)})
    assert (settings.max_payload_bytes, settings.max_message_bytes) == (2 * MiB, 8 * MiB)
    # Unset, the default is kept as before the variable was read, so a server
    # that raised only the payload limit still starts.
    assert Settings.from_env(raised).max_message_bytes == 4 * MiB
