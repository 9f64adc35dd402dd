"""Python values <-> protobuf well-known types, in one place."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from cronstream._payloads import to_json_object

#: A JSON object: a dict, a dataclass instance or a pydantic model instance.
Payload = Mapping[str, Any] | Any | None

# Whole numbers up to 2**53 survive a double exactly; past it a float is kept.
_EXACT_INTEGERS = 2**53


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """An aware datetime as a Timestamp. A naive one is refused: it would be
    read in the server's zone (UTC), rarely what the caller meant."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value!r} is naive; give it a timezone, e.g. datetime.now(UTC)")
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value.astimezone(UTC))
    return message


def to_datetime(message: timestamp_pb2.Timestamp) -> datetime:
    """A Timestamp as an aware UTC datetime."""
    return message.ToDatetime(tzinfo=UTC)


def optional_datetime(message: Message, name: str) -> datetime | None:
    """The Timestamp field `name` of `message`; None when unset (not the epoch)."""
    if not message.HasField(name):
        return None
    value: timestamp_pb2.Timestamp = getattr(message, name)
    return to_datetime(value)


def optional_timedelta(message: Message, name: str) -> timedelta | None:
    """The Duration field `name` of `message`; None when unset."""
    if not message.HasField(name):
        return None
    value: duration_pb2.Duration = getattr(message, name)
    return value.ToTimedelta()


def duration(value: timedelta) -> duration_pb2.Duration:
    message = duration_pb2.Duration()
    message.FromTimedelta(value)
    return message


def struct(value: Payload, what: str = "payload") -> struct_pb2.Struct:
    """A JSON object (a dict, or a dataclass or pydantic instance) as a
    Struct. It goes through `json`, so whatever `json.dumps` accepts works,
    and what JSON cannot hold (NaN, a set, a non-string key) raises here
    rather than on the server."""
    message = struct_pb2.Struct()
    value = to_json_object(value)
    if value is None:
        return message
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict (a JSON object), not {type(value).__name__}")
    try:
        plain = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON: {exc}") from exc
    message.update(plain)
    return message


def to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as `json.loads` would read it: whole numbers as int."""
    return {key: _plain(value) for key, value in message.fields.items()}


def _plain(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return to_dict(value.struct_value)
    if kind == "list_value":
        return [_plain(item) for item in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        if math.isfinite(number) and number.is_integer() and abs(number) <= _EXACT_INTEGERS:
            return int(number)
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


class EnumType(Protocol):
    """A generated protobuf enum (its class, such as `job_pb2.Priority`)."""

    def Value(self, name: str) -> Any: ...

    def keys(self) -> list[str]: ...


def enum_value(enum: EnumType, prefix: str, value: str | int) -> int:
    """An enum value from its short name (`"high"` for `PRIORITY_HIGH`), its
    full name, or its number."""
    if isinstance(value, int):
        return value
    name = value.upper()
    if not name.startswith(prefix):
        name = prefix + name
    try:
        number: int = enum.Value(name)
    except ValueError:
        choices = ", ".join(n.removeprefix(prefix).lower() for n in enum.keys()[1:])
        raise ValueError(f"unknown {prefix.lower()}value {value!r}; one of: {choices}") from None
    return number
