"""Field rules shared by every resource; each check appends to a violation list
so a request with three bad fields is told about all three at once."""

from __future__ import annotations

import unicodedata

from cronstream_server.core.errors import FieldViolation, InvalidArgument

MAX_NAME_LENGTH = 200


def has_control_characters(value: str) -> bool:
    # Categories Cc (C0/C1 controls, DEL) and Cf (format: bidi overrides,
    # zero-width joiners are allowed in emoji sequences, so only Cc is refused
    # plus the bidi overrides that disguise text).
    return any(unicodedata.category(ch) == "Cc" or ch in _BIDI_OVERRIDES for ch in value)


_BIDI_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_name(
    violations: list[FieldViolation],
    field: str,
    value: str,
    *,
    required: bool = True,
    max_length: int = MAX_NAME_LENGTH,
) -> None:
    """A name: 1 to `max_length` characters, no control characters.

    Any other character (quotes, SQL, emoji) is allowed and stored as given.
    """
    if not value:
        if required:
            violations.append(FieldViolation(field, "is required"))
        return
    if len(value) > max_length:
        violations.append(
            FieldViolation(field, f"is {len(value)} characters long; at most {max_length}")
        )
    if has_control_characters(value):
        violations.append(FieldViolation(field, "must not contain control characters"))


def raise_if_any(violations: list[FieldViolation]) -> None:
    if violations:
        raise InvalidArgument(violations)
