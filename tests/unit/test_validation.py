from __future__ import annotations

import pytest
from cronstream_server.core.errors import FieldViolation
from cronstream_server.core.validation import check_name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ["is required"]),
        ("a" * 200, []),
        ("a" * 201, ["is 201 characters long; at most 200"]),
        ("new\nline", ["must not contain control characters"]),
        ("nul\x00", ["must not contain control characters"]),
        ("del\x7f", ["must not contain control characters"]),
        ("bidi\u202eevil", ["must not contain control characters"]),
        ("Robert'); DROP TABLE jobs;--", []),
        ('quote " and emoji 🚀 and family 👨‍👩‍👧', []),
    ],
)
def test_check_name(value: str, expected: list[str]) -> None:
    violations: list[FieldViolation] = []
    check_name(violations, "job.name", value)
    assert [v.description for v in violations] == expected
    assert all(v.field == "job.name" for v in violations)


def test_optional_name_may_be_empty() -> None:
    violations: list[FieldViolation] = []
    check_name(violations, "job.handler_name", "", required=False)
    assert violations == []
