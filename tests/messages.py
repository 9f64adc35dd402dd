"""Hypothesis strategies for any protobuf message, driven by its descriptor.

Values are chosen to hurt: control characters, huge and negative numbers,
unknown enum numbers, timestamps and durations out of range, deep nesting.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor, message
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import strategies as st

_INT32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, -1, 2**31 - 1]))
_INT64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, 1, -1]))
_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "*/5 * * * *",
            "0 0 30 2 *",
            "UTC",
            "../etc/passwd",
            "'; DROP TABLE x; --",
            "🚀",
            "\x00",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=190, max_size=260),
)
_WELL_KNOWN_SCALARS = {
    "google.protobuf.Timestamp": {"seconds": _INT64, "nanos": _INT32},
    "google.protobuf.Duration": {"seconds": _INT64, "nanos": _INT32},
}

_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_STRING: _TEXT,
    FieldDescriptor.TYPE_BYTES: st.binary(max_size=40),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
    FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=True),
    FieldDescriptor.TYPE_FLOAT: st.floats(width=32, allow_nan=True),
    FieldDescriptor.TYPE_ENUM: st.integers(-3, 12),
}


def messages(cls: type[message.Message], depth: int = 3) -> st.SearchStrategy[message.Message]:
    """Random instances of `cls`: any subset of its fields, filled with nasty values."""
    return st.builds(lambda values: _build(cls, values), _fields(cls.DESCRIPTOR, depth))


def _fields(desc: descriptor.Descriptor, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    if desc.full_name in _WELL_KNOWN_SCALARS:
        return st.fixed_dictionaries({}, optional=_WELL_KNOWN_SCALARS[desc.full_name])
    if desc.full_name == "google.protobuf.Struct":
        return st.fixed_dictionaries({}, optional={"json": _json(depth)})
    optional = {f.name: _field(f, depth) for f in desc.fields if depth > 0 or not _is_message(f)}
    return st.fixed_dictionaries({}, optional=optional)


def _json(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    leaves = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), _TEXT)
    values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3), max_leaves=8)
    return st.dictionaries(_TEXT, values, max_size=4)


def _is_message(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE


def _field(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if _is_message(field):
        if field.message_type.GetOptions().map_entry:
            key = _SCALARS[field.message_type.fields_by_name["key"].type]
            return st.dictionaries(key, _TEXT, max_size=3)
        single: st.SearchStrategy[Any] = _fields(field.message_type, depth - 1)
    else:
        single = _SCALARS[field.type]
    if field.is_repeated:
        return st.lists(single, max_size=4)
    return single


def _build(cls: type[message.Message], values: dict[str, Any]) -> message.Message:
    instance = cls()
    _fill(instance, values)
    return instance


def _fill(target: message.Message, values: dict[str, Any]) -> None:
    if target.DESCRIPTOR.full_name == "google.protobuf.Struct":
        target.update(values.get("json", {}))  # type: ignore[attr-defined]
        return
    for name, value in values.items():
        field = target.DESCRIPTOR.fields_by_name[name]
        if field.is_repeated and _is_message(field):
            container = getattr(target, name)
            if field.message_type.GetOptions().map_entry:
                container.update(value)
            else:
                for item in value:
                    _fill(container.add(), item)
        elif _is_message(field):
            _fill(getattr(target, name), value)
        elif field.is_repeated:
            getattr(target, name).extend(value)
        else:
            setattr(target, name, value)
