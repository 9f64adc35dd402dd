"""Key templates, token buckets and admission (core.limits, core.rate_limits,
core.admission): pure rules, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cronstream_server.core.admission import GateState, admit, consume
from cronstream_server.core.dispatch import Pending
from cronstream_server.core.enums import ExecutionTrigger, Priority
from cronstream_server.core.limits import (
    ConcurrencyLimit,
    Keys,
    Placeholder,
    TemplateError,
    expand,
    keys_for,
    parse,
)
from cronstream_server.core.rate_limits import Bucket, RateLimit, Scope, level, next_token, take

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_a_template_parses_into_text_and_field_paths() -> None:
    assert parse("customer:{payload.customer.id}/{{x}}") == (
        "customer:",
        Placeholder(("customer", "id")),
        "/{x}",
    )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a:{customer_id}", "must name a payload field"),
        ("a:{payload.}", "must name a payload field"),
        ("a:{payload.x", "unmatched '{' at character 3"),
        ("a}", "unmatched '}' at character 2"),
    ],
)
def test_malformed_templates_say_what_is_wrong(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        parse(template)


def test_expansion_of_strings_numbers_objects_and_missing_fields() -> None:
    payload = {"s": "acme", "n": 42.0, "f": 1.5, "o": {"b": [1.0, True], "a": None}}
    assert expand("{payload.s}|{payload.n}|{payload.f}", payload) == "acme|42|1.5"
    assert expand("{payload.o}", payload) == '{"a":null,"b":[1,true]}'
    assert expand("x:{payload.missing}:{payload.s.deeper}", payload) == "x::"
    assert expand("fixed", None) == "fixed"


def test_a_long_expansion_is_cut_to_200_characters_and_stays_distinct() -> None:
    one = expand("{payload.v}", {"v": "a" * 300})
    two = expand("{payload.v}", {"v": "a" * 299 + "b"})
    assert len(one) == len(two) == 200
    assert one != two
    assert one.startswith("a" * 183 + "~")


def test_keys_for_an_execution() -> None:
    keys = keys_for(ConcurrencyLimit("c:{payload.id}", 3), "r:{payload.id}", {"id": "9"})
    assert keys == Keys("c:9", 3, "r:9", "r:{payload.id}")
    assert keys_for(None, "", {"id": "9"}) == Keys()


def _limit(
    limit: int, per: float, burst: int, scope: Scope = Scope.KEY, name: str = "k"
) -> RateLimit:
    return RateLimit("p", scope, name, limit, timedelta(seconds=per), burst, NOW, NOW)


def test_a_bucket_refills_continuously_up_to_its_size() -> None:
    five_a_second = _limit(5, 1.0, 5)
    assert level(five_a_second, None, NOW) == Bucket(5.0, NOW)
    empty = Bucket(0.0, NOW)
    assert level(five_a_second, empty, NOW + timedelta(milliseconds=300)).tokens == pytest.approx(
        1.5
    )
    assert level(five_a_second, empty, NOW + timedelta(hours=1)).tokens == 5.0
    assert take(Bucket(0.5, NOW)) is None
    assert next_token(five_a_second, Bucket(0.5, NOW)) == NOW + timedelta(milliseconds=100)


def _pending(n: int, key: str | None = None, limit: int = 1, rate: str | None = None) -> Pending:
    return Pending(
        id=f"{n:04d}",
        platform_id="p",
        job_id=None,
        handler_name="h",
        payload=None,
        priority=Priority.MEDIUM,
        scheduled_at=NOW,
        due_at=NOW + timedelta(seconds=n),
        attempt=1,
        timeout=timedelta(seconds=60),
        trigger=ExecutionTrigger.MANUAL,
        keys=Keys(key, limit if key else None, rate, rate),
    )


def test_admission_fills_a_keys_free_places_in_dispatch_order() -> None:
    candidates = [_pending(n, "k", limit=3) for n in range(5)] + [_pending(9, "other")]
    admission = admit(candidates, GateState(NOW, running={("p", "k"): 1, ("p", "other"): 0}))
    assert [c.id for c in admission.admitted] == ["0000", "0001", "0009"]
    assert admission.blocked_keys == {("p", "k")}
    assert admission.retry_at is None  # a key's place frees when one ends, not at a time


def test_a_key_another_claim_holds_is_left_to_it_and_looked_at_again_soon() -> None:
    admission = admit([_pending(0, "k")], GateState(NOW, locked_out=frozenset({("p", "k")})))
    assert admission.admitted == []
    assert admission.retry_at == NOW + timedelta(milliseconds=50)


def test_admission_takes_tokens_of_the_key_and_the_handler_buckets() -> None:
    limits = {
        ("p", Scope.KEY, "r"): _limit(10, 1.0, 2),
        ("p", Scope.HANDLER, "h"): _limit(1, 1.0, 3, Scope.HANDLER, "h"),
    }
    state = GateState(NOW, limits=limits)
    admission = admit([_pending(n, rate="r") for n in range(4)], state)
    assert [c.id for c in admission.admitted] == ["0000", "0001"]  # the key's burst of 2
    assert admission.retry_at == NOW + timedelta(milliseconds=100)  # its next token
    after = consume(admission.admitted, state)
    assert after[("p", Scope.KEY, "r", "r")].tokens == 0.0
    assert after[("p", Scope.HANDLER, "h", "")].tokens == 1.0
