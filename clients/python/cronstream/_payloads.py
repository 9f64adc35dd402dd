"""Typed payloads and results: dataclasses and pydantic models <-> JSON objects.

pydantic is optional: a model is recognised by its `model_validate` and
`model_dump` methods, so this module never imports it.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Union

__all__ = ["PayloadError", "from_json_object", "payload_type_of", "to_json_object"]


class PayloadError(ValueError):
    """A JSON object that does not fit the declared type."""


def _is_model(value: Any) -> bool:
    """A pydantic (v2) model class or instance."""
    return hasattr(value, "model_validate") and hasattr(value, "model_dump")


# --- Python -> JSON ---------------------------------------------------------------


def to_json_object(value: Any) -> Mapping[str, Any] | None:
    """A dataclass or pydantic instance as a plain dict (datetimes as ISO 8601,
    timedeltas as seconds, enums as their values); anything else as it is."""
    if _is_model(value) and not isinstance(value, type):
        dumped: dict[str, Any] = value.model_dump(mode="json")
        return dumped
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        plain: dict[str, Any] = _plain(value)
        return plain
    return typing.cast(Mapping[str, Any] | None, value)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if _is_model(value) and not isinstance(value, type):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    return value


# --- JSON -> Python ---------------------------------------------------------------


def payload_type_of(fn: Callable[..., Any]) -> type | None:
    """The `T` of a handler's `ctx: Context[T]` annotation; None for a plain
    `Context` or `Context[dict[...]]` (the payload stays a dict)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: no declared type
        return None
    params = [p for p in inspect.signature(fn).parameters if p in hints]
    if not params:
        return None
    args = typing.get_args(hints[params[0]])
    if len(args) != 1 or args[0] is Any or typing.get_origin(args[0]) in (dict, Mapping):
        return None
    declared = args[0]
    return declared if isinstance(declared, type) and declared is not dict else None


def from_json_object(kind: type, data: Mapping[str, Any]) -> Any:
    """`data` as an instance of `kind` (a dataclass or pydantic model);
    raises `PayloadError` saying what does not fit."""
    if _is_model(kind):
        try:
            return kind.model_validate(data)  # type: ignore[attr-defined]
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise PayloadError(str(exc)) from exc
    if dataclasses.is_dataclass(kind):
        return _convert(kind, data, "payload")
    raise TypeError(f"a payload type is a dataclass or a pydantic model, not {kind!r}")


def _convert(kind: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(kind)
    if kind is Any:
        return value
    if origin in (Union, types.UnionType):
        return _union(kind, value, path)
    if origin in (list, tuple, set, frozenset) or kind in (list, tuple):
        return _sequence(kind, value, path)
    if origin in (dict, Mapping) or kind is dict:
        _expect(value, dict, path)
        item = (typing.get_args(kind) or (str, Any))[1]
        return {k: _convert(item, v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _dataclass(kind, value, path)
    if _is_model(kind):
        return from_json_object(kind, value)
    return _scalar(kind, value, path)


def _dataclass(kind: type, value: Any, path: str) -> Any:
    _expect(value, dict, path)
    hints = typing.get_type_hints(kind)
    fields = {f.name: f for f in dataclasses.fields(kind) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise PayloadError(f"{path}: unexpected field(s) {', '.join(unknown)}")
    missing = [
        name
        for name, f in fields.items()
        if name not in value
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise PayloadError(f"{path}: missing field(s) {', '.join(missing)}")
    kwargs = {k: _convert(hints.get(k, Any), v, f"{path}.{k}") for k, v in value.items()}
    return kind(**kwargs)


def _union(kind: Any, value: Any, path: str) -> Any:
    options = typing.get_args(kind)
    if value is None and type(None) in options:
        return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _convert(option, value, path)
        except PayloadError as exc:
            errors.append(str(exc))
    raise PayloadError("; ".join(errors) or f"{path}: {value!r} does not fit {kind}")


def _sequence(kind: Any, value: Any, path: str) -> Any:
    _expect(value, list, path)
    args = typing.get_args(kind)
    origin = typing.get_origin(kind) or kind
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(args) != len(value):
            raise PayloadError(f"{path}: expected {len(args)} items, got {len(value)}")
        return tuple(
            _convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    item = args[0] if args else Any
    items = [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    return items if origin is list else origin(items)


def _scalar(kind: Any, value: Any, path: str) -> Any:
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is datetime and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise PayloadError(f"{path}: {exc}") from exc
    if kind is timedelta and isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(value)
        except ValueError as exc:
            raise PayloadError(f"{path}: {exc}") from exc
    if isinstance(kind, type):
        if kind is int and isinstance(value, bool):
            raise PayloadError(f"{path}: expected int, got bool")
        _expect(value, kind, path)
    return value


def _expect(value: Any, kind: type, path: str) -> None:
    if not isinstance(value, kind):
        raise PayloadError(f"{path}: expected {kind.__name__}, got {type(value).__name__}")
