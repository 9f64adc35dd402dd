"""Protobuf well-known types <-> Python values, shared by every converter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value.astimezone(UTC))
    return message


def from_timestamp(message: timestamp_pb2.Timestamp) -> datetime:
    return message.ToDatetime(tzinfo=UTC)


def duration_from_ms(ms: int | None) -> duration_pb2.Duration | None:
    if ms is None:
        return None
    message = duration_pb2.Duration()
    message.FromTimedelta(timedelta(milliseconds=ms))
    return message
