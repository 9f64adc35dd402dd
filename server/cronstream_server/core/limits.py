"""Concurrency keys and rate-limit keys: templates over an execution's payload
(docs/scheduling.md#concurrency-keys).

A key is a fixed string, or a template with placeholders such as
"customer:{payload.customer_id}". `parse` checks one as a job or handler
states it; `expand` turns it into the key an execution carries, once, when
the execution is created, so every later claim compares plain strings.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from cronstream_server.core.errors import FieldViolation
from cronstream_server.core.validation import check_name
from cronstream_server.core.values import value_type

MAX_KEY_LENGTH = 200
MAX_CONCURRENCY = 10_000
_PREFIX = "payload."
# An expansion longer than MAX_KEY_LENGTH keeps this much of its text, then
# "~" and 16 hex digits of its SHA-256: distinct long keys stay distinct.
_KEPT = MAX_KEY_LENGTH - 17


@value_type
class ConcurrencyLimit:
    """At most `limit` executions with one expanded `key` run at once."""

    key: str
    limit: int


@value_type
class Placeholder:
    """`{payload.a.b}`: the field path (a, b) into the payload."""

    path: tuple[str, ...]


Part = str | Placeholder


class TemplateError(ValueError):
    pass


def parse(template: str) -> tuple[Part, ...]:
    """The literal text and placeholders of `template`; `{{` and `}}` stand
    for literal braces. Raises TemplateError on anything else with a brace."""
    parts: list[Part] = []
    literal: list[str] = []
    for token in _TOKEN.finditer(template):
        text = token.group(0)
        if text in ("{{", "}}"):
            literal.append(text[0])
        elif text in ("{", "}"):
            raise TemplateError(f"unmatched {text!r} at character {token.start() + 1}")
        elif text.startswith("{"):
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_placeholder(text[1:-1], token.start()))
        else:
            literal.append(text)
    if literal:
        parts.append("".join(literal))
    return tuple(parts)


# Doubled braces, a placeholder, a lone brace, or a run of other characters.
_TOKEN = re.compile(r"\{\{|\}\}|\{[^{}]*\}|[{}]|[^{}]+")


def _placeholder(inner: str, at: int) -> Placeholder:
    fields = inner.removeprefix(_PREFIX).split(".")
    if not inner.startswith(_PREFIX) or not all(fields):
        raise TemplateError(
            f"placeholder {{{inner}}} at character {at + 1} must name a payload field, "
            "such as {payload.customer_id} or {payload.customer.id}"
        )
    return Placeholder(tuple(fields))


def expand(template: str, payload: dict[str, Any] | None) -> str:
    """The key `template` names for an execution with `payload`: each
    placeholder replaced by the field's value (a string as it is, any other
    value as its JSON text, a missing field as ""). A template that does not
    parse (stored before the rules) is its own fixed key."""
    try:
        parts = parse(template)
    except TemplateError:
        return template
    text = "".join(p if isinstance(p, str) else _field_text(payload, p.path) for p in parts)
    if len(text) <= MAX_KEY_LENGTH:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{text[:_KEPT]}~{digest}"


def _field_text(payload: dict[str, Any] | None, path: tuple[str, ...]) -> str:
    value: Any = payload
    for name in path:
        if not isinstance(value, dict) or name not in value:
            return ""
        value = value[name]
    if isinstance(value, str):
        return value
    return json.dumps(_integral(value), separators=(",", ":"), sort_keys=True)


def _integral(value: Any) -> Any:
    """Payloads arrive as protobuf Structs, whose numbers are all doubles:
    customer 42 arrives as 42.0, and its key says "42", as it was sent."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def check_key(violations: list[FieldViolation], field: str, key: str, *, required: bool) -> None:
    """A key as written: a name of 1 to 200 characters (or empty when not
    required), and a template that parses."""
    before = len(violations)
    check_name(violations, field, key, required=required, max_length=MAX_KEY_LENGTH)
    if not key or len(violations) > before:
        return
    try:
        parse(key)
    except TemplateError as error:
        violations.append(FieldViolation(field, str(error)))


def check_concurrency(
    violations: list[FieldViolation], field: str, concurrency: ConcurrencyLimit | None
) -> None:
    if concurrency is None:
        return
    check_key(violations, f"{field}.key", concurrency.key, required=True)
    if not 1 <= concurrency.limit <= MAX_CONCURRENCY:
        violations.append(FieldViolation(f"{field}.limit", f"must be 1 to {MAX_CONCURRENCY:,}"))


@value_type
class Keys:
    """What an execution carries of its job's or handler's limits."""

    concurrency_key: str | None = None  # expanded
    concurrency_limit: int | None = None
    rate_limit_key: str | None = None  # expanded
    rate_limit_template: str | None = None  # as written: a RateLimit's key


NO_KEYS = Keys()  # what most executions carry


def keys_for(
    concurrency: ConcurrencyLimit | None, rate_limit_key: str, payload: dict[str, Any] | None
) -> Keys:
    """The keys of an execution with `payload` (the payload it runs with,
    an event's merged in)."""
    if concurrency is None and not rate_limit_key:
        return NO_KEYS
    return Keys(
        concurrency_key=expand(concurrency.key, payload) if concurrency else None,
        concurrency_limit=concurrency.limit if concurrency else None,
        rate_limit_key=expand(rate_limit_key, payload) if rate_limit_key else None,
        rate_limit_template=rate_limit_key or None,
    )
