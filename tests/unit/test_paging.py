from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cronstream_server.core.errors import InvalidArgument
from cronstream_server.core.paging import (
    MAX_PAGE_SIZE,
    decode_token,
    encode_token,
    fingerprint,
    page_size,
    sort_key,
)


def test_page_size_defaults_and_caps() -> None:
    assert page_size(0) == 50
    assert page_size(7) == 7
    assert page_size(10_000) == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument) as raised:
        page_size(-1)
    assert raised.value.violations[0].field == "page_size"


def test_token_round_trip_within_its_scope() -> None:
    key = sort_key(datetime(2026, 11, 26, 12, 0, tzinfo=UTC), "0190-id")
    scope = fingerprint("jobs", "platform-a", ["active"])
    assert decode_token(encode_token(key, scope), scope) == key
    assert decode_token("", scope) is None


@pytest.mark.parametrize(
    "other_scope",
    [fingerprint("jobs", "platform-b", ["active"]), fingerprint("jobs", "platform-a", [])],
    ids=["other-platform", "other-filters"],
)
def test_token_from_another_query_is_refused(other_scope: str) -> None:
    token = encode_token(
        ("2026-01-01T00:00:00+00:00", "x"), fingerprint("jobs", "platform-a", ["active"])
    )
    with pytest.raises(InvalidArgument, match="another query"):
        decode_token(token, other_scope)


@pytest.mark.parametrize("forged", ["garbage!", "e30", "eyJrIjogMX0", "W10"])
def test_forged_tokens_are_refused(forged: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        decode_token(forged, fingerprint("x"))
    assert raised.value.violations[0].field == "page_token"
