"""Deeply nested JSON values and hand-made protobuf bytes, for the decoding tests.

A message holding a very deep Struct must be built in place (or with
`CopyFrom`): a constructor argument or `MergeFrom` goes through the decoder,
which refuses it.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import descriptor, descriptor_pool, message, message_factory, struct_pb2

_SEGMENT = re.compile(r"(\w+)(?:\[(\d+)\])?")
JSON_TYPES = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)


def nested(depth: int) -> struct_pb2.Struct:
    """`{"a": {"a": ... {"a": 1}}}`: `depth` levels of objects (depth >= 1)."""
    top = struct_pb2.Struct()
    inner = top
    for _ in range(depth - 1):
        inner = inner.fields["a"].struct_value
    inner.fields["a"].number_value = 1
    return top


def nested_lists(depth: int) -> struct_pb2.Struct:
    """`{"a": [[...[1]...]]}`: one object, then `depth - 1` levels of lists."""
    top = struct_pb2.Struct()
    value = top.fields["a"]
    for _ in range(depth - 1):
        value = value.list_value.values.add()
    value.number_value = 1
    return top


def request_type(method: str) -> type[message.Message]:
    """The request class of a method path such as `/cronstream.v1.X/Y`."""
    name = method.strip("/").replace("/", ".")
    found = descriptor_pool.Default().FindMethodByName(name)
    return message_factory.GetMessageClass(found.input_type)


def json_places(
    message_type: descriptor.Descriptor, path: str = "", within: frozenset[str] = frozenset()
) -> list[str]:
    """The path of each JSON value a message can hold, `[0]` for each list on
    the way (such as `requests[0].job.payload`); maps and recursion are not followed."""
    found: list[str] = []
    within |= {message_type.full_name}
    for field in message_type.fields:
        kind = field.message_type
        if kind is None or kind.GetOptions().map_entry or kind.full_name in within:
            continue
        name = f"{path}.{field.name}" if path else field.name
        if field.is_repeated:
            name += "[0]"
        if kind.full_name in JSON_TYPES:
            found.append(name)
        else:
            found += json_places(kind, name, within)
    return found


def with_value(request: message.Message, path: str, value: struct_pb2.Struct) -> message.Message:
    """`request` with `value` copied in at `path` (such as `requests[3].job.payload`),
    repeated fields grown to the index named."""
    *parents, last = path.split(".")
    target: Any = request
    for segment in parents:
        name, index = _parse(segment)
        target = getattr(target, name)
        if index is not None:
            while len(target) <= index:
                target.add()
            target = target[index]
    getattr(target, _parse(last)[0]).CopyFrom(value)
    return request


def _parse(segment: str) -> tuple[str, int | None]:
    match = _SEGMENT.fullmatch(segment)
    assert match is not None, segment
    return match[1], None if match[2] is None else int(match[2])


def length_delimited(number: int, payload: bytes) -> bytes:
    """The wire encoding of field `number` holding `payload` (a message or bytes)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)
