"""Values on the worker wire, computed along fast paths: each gives what the
general conversion it stands for gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from cronstream.v1 import worker_service_pb2 as wpb
from cronstream_server.api.convert_common import set_timestamp, timestamp
from cronstream_server.api.worker import parse_result
from cronstream_server.core.dispatch import Report
from google.protobuf import struct_pb2, timestamp_pb2

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
    in_place = wpb.Assignment()
    set_timestamp(in_place.start_at, value)  # an assignment's fields, set where they are
    assert in_place.start_at == _protobufs(value)


def test_a_naive_datetime_is_read_as_local_time_as_before() -> None:
    value = datetime(2026, 6, 1, 12, 0, 0, 42)
    assert timestamp(value) == _protobufs(value)


def test_none_is_no_timestamp() -> None:
    assert timestamp(None) is None


# --- a worker's result: most carry no value ------------------------------------


def _success(result: struct_pb2.Struct | None) -> wpb.WorkerResult:
    success = wpb.ResultSuccess() if result is None else wpb.ResultSuccess(result=result)
    return wpb.WorkerResult(execution_id="e1", attempt=2, success=success)


@pytest.mark.parametrize("result", [None, struct_pb2.Struct()], ids=["absent", "empty"])
def test_a_success_without_a_value_reports_an_empty_one(result: struct_pb2.Struct | None) -> None:
    report = parse_result(_success(result), "p1", max_bytes=0)
    assert report == Report("p1", "e1", 2, succeeded=True, result={})
    # Each report its own value, as each conversion made one.
    assert parse_result(_success(result), "p1", max_bytes=0).result is not report.result


def test_a_success_with_a_value_is_still_converted_and_checked() -> None:
    value = struct_pb2.Struct()
    value.update({"rows": 3, "names": ["a", "b"]})
    report = parse_result(_success(value), "p1", max_bytes=1 << 10)
    assert report == Report("p1", "e1", 2, succeeded=True, result={"rows": 3, "names": ["a", "b"]})
    too_big = parse_result(_success(value), "p1", max_bytes=4)
    assert not too_big.succeeded and not too_big.retryable
    assert "success.result" in too_big.error
