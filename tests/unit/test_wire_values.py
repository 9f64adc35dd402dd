"""Values on the worker wire, computed along fast paths: each gives what the
general conversion it stands for gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from cronstream_server.api.convert_common import timestamp
from google.protobuf import timestamp_pb2

ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11, minutes=15))]
INSTANTS = [
    datetime(1970, 1, 1),
    datetime(2026, 6, 1, 12, 0, 0, 123456),
    datetime(1969, 12, 31, 23, 59, 59, 999999),  # just before the epoch
    datetime(1900, 3, 1, 0, 0, 0, 1),
    datetime(1, 1, 2, 0, 0, 0, 500000),
    datetime(9999, 12, 30, 23, 59, 59, 999999),
]


def _protobufs(value: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value.astimezone(UTC))
    return message


@pytest.mark.parametrize("zone", ZONES, ids=str)
@pytest.mark.parametrize("instant", INSTANTS, ids=str)
def test_a_timestamp_is_what_protobuf_makes_of_the_datetime(
    instant: datetime, zone: timezone
) -> None:
    value = instant.replace(tzinfo=zone)
    assert timestamp(value) == _protobufs(value)


def test_a_naive_datetime_is_read_as_local_time_as_before() -> None:
    value = datetime(2026, 6, 1, 12, 0, 0, 42)
    assert timestamp(value) == _protobufs(value)


def test_none_is_no_timestamp() -> None:
    assert timestamp(None) is None
