"""Request bytes -> request messages, with what does not decode named.

grpc decodes a request before any handler runs, and a deserializer that
raises makes grpc log a traceback and answer UNKNOWN. So the interceptor
wraps each deserializer with `request_deserializer`: bytes that do not decode
give an `Undecodable` instead, which the wrapped handler refuses with
INVALID_ARGUMENT (a deserializer cannot end the call itself).

What a client's own encoder wrote fails to decode mostly when a JSON value
(Struct, Value, ListValue) nests deeper than the decoder's 100 messages (see
`api.nesting`). To name that field,
every request type has a "shallow" twin, built once here in a private
descriptor pool: the same message with each field of a JSON type declared
`bytes` instead (same number; an embedded message and `bytes` share one wire
format). The twin decodes whatever its JSON values hold; each value is then
measured one level at a time, each level parsed on its own (Struct, Value and
ListValue have twins too), so no single parse goes deep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from cronstream.v1 import admin_service_pb2, scheduler_service_pb2, worker_service_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor
from google.protobuf.message import DecodeError, Message

from cronstream_server.api.nesting import MAX_JSON_DEPTH, TOO_DEEP
from cronstream_server.core.errors import FieldViolation, InvalidArgument

log = logging.getLogger(__name__)

STRUCT = "google.protobuf.Struct"
VALUE = "google.protobuf.Value"
LIST = "google.protobuf.ListValue"
JSON_TYPES = frozenset({STRUCT, VALUE, LIST})

SERVICE_FILES = (
    admin_service_pb2.DESCRIPTOR,
    scheduler_service_pb2.DESCRIPTOR,
    worker_service_pb2.DESCRIPTOR,
)

Deserializer = Callable[[bytes], Any]


@dataclass(frozen=True, slots=True)
class Undecodable:
    """What a wrapped deserializer returns for bytes that are no valid request."""

    violations: tuple[FieldViolation, ...]
    # The shallow twin of the request, when it decoded and only some of its
    # JSON values (each named in `violations`) did not: the rest is known.
    partial: Message | None = None

    def error(self) -> InvalidArgument:
        return InvalidArgument(list(self.violations))


def request_deserializer(method: str, deserialize: Deserializer | None) -> Deserializer | None:
    """`deserialize`, returning an `Undecodable` where it would raise (for
    the methods of our services; others are left as they are)."""
    type_name = _INPUT_TYPES.get(method)
    if deserialize is None or type_name is None:
        return deserialize
    original = deserialize

    def decode(data: bytes) -> Any:
        try:
            return original(data)
        except DecodeError:
            undecodable = diagnose(type_name, data)
            log.debug("%s: request does not decode: %s", method, undecodable.violations)
            return undecodable

    return decode


def diagnose(type_name: str, data: bytes) -> Undecodable:
    """Why `data` does not decode as `type_name`: each JSON value that is
    malformed or too deep, by path; else the request as a whole."""
    whole = Undecodable((FieldViolation("", f"is not a valid {type_name}"),))
    try:
        partial = _shallow(type_name).FromString(data)
    except DecodeError:
        return whole
    real = descriptor_pool.Default().FindMessageTypeByName(type_name)
    violations = tuple(
        FieldViolation(path, problem)
        for path, json_type, encoded in _json_values(partial, real, "")
        if (problem := json_problem(json_type, encoded)) is not None
    )
    return Undecodable(violations, partial) if violations else whole


def json_problem(json_type: str, encoded: bytes) -> str | None:
    """What is wrong with an encoded JSON value, if anything."""
    depth = _depth(json_type, encoded)
    if depth is None:
        return f"is not a valid {json_type}"
    return TOO_DEEP if depth > MAX_JSON_DEPTH else None


# --- walking the shallow twins ------------------------------------------------


def _json_values(message: Any, real: Descriptor, path: str) -> Iterator[tuple[str, str, bytes]]:
    """(path, JSON type, its bytes) of each JSON value a shallow twin holds,
    `real` being the descriptor it is the twin of."""
    for field, value in message.ListFields():
        name = f"{path}.{field.name}" if path else field.name
        kind, items = _elements(real.fields_by_number[field.number], name, value)
        if kind is None:
            continue
        for where, item in items:
            if kind.full_name in JSON_TYPES:
                yield where, kind.full_name, item
            else:
                yield from _json_values(item, kind, where)


def _elements(
    field: FieldDescriptor, name: str, value: Any
) -> tuple[Descriptor | None, list[tuple[str, Any]]]:
    """The message type of a field's elements (None: not messages), and each
    element with its path: the field itself, or each item of a list or map."""
    kind = field.message_type
    if kind is not None and kind.GetOptions().map_entry:
        values = kind.fields_by_name["value"].message_type
        return values, [(f"{name}[{key!r}]", item) for key, item in value.items()]
    if field.is_repeated:
        return kind, [(f"{name}[{index}]", item) for index, item in enumerate(value)]
    return kind, [(name, value)]


def _depth(json_type: str, encoded: bytes) -> int | None:
    """Levels of objects and lists in an encoded JSON value, counted no
    further than one past the limit; None when it is not a valid one."""
    deepest = 0
    pending = [(json_type, encoded, 0)]
    while pending:
        kind, data, level = pending.pop()
        try:
            message: Any = _shallow(kind).FromString(data)
        except DecodeError:
            return None
        if kind == VALUE:
            inner = message.WhichOneof("kind")
            if inner in ("struct_value", "list_value"):
                pending.append(
                    (STRUCT if inner == "struct_value" else LIST, getattr(message, inner), level)
                )
            continue
        level += 1
        if level > MAX_JSON_DEPTH:
            return level  # too deep already: how much deeper does not matter
        deepest = max(deepest, level)
        children = message.fields.values() if kind == STRUCT else message.values
        pending.extend((VALUE, child, level) for child in children)
    return deepest


# --- the private pool of shallow twins, built once ----------------------------


def _shallow_file(file: FileDescriptor) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    pending = list(proto.message_type)
    while pending:
        message = pending.pop()
        pending.extend(message.nested_type)  # map entries among them
        for field in message.field:
            if field.type_name.lstrip(".") in JSON_TYPES:
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                field.ClearField("type_name")
    return proto


def _add_with_dependencies(
    pool: descriptor_pool.DescriptorPool, file: FileDescriptor, added: set[str]
) -> None:
    if file.name in added:
        return
    for dependency in file.dependencies:
        _add_with_dependencies(pool, dependency, added)
    pool.Add(_shallow_file(file))
    added.add(file.name)


def _build_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()
    for file in SERVICE_FILES:
        _add_with_dependencies(pool, file, added)
    return pool


_POOL = _build_pool()
_INPUT_TYPES = {
    f"/{service.full_name}/{method.name}": method.input_type.full_name
    for file in SERVICE_FILES
    for service in file.services_by_name.values()
    for method in service.methods
}


@cache
def _shallow(type_name: str) -> type[Message]:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(type_name))
